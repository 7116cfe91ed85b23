"""Three `agentlog projections run` processes share every view's partitions; one is SIGKILLed while events are
written, the other two take its partitions over, and once writing stops every view equals a fold of the store:
nothing applied twice, nothing missing.

Everything runs as OS processes on the shared servers, under a schema, topic prefix and Redis prefix of its own:
a relay, the three projections processes (and a fourth that replaces the killed one); the test writes through
the command services into the store, as the API would.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from cli.provider import drop_keys, drop_schema
from contracts.codec import EventCodec
from domain.budget.commands import ConsumeTokens
from domain.budget.service import consume_tokens
from domain.events import CommandContext
from domain.session.commands import PostUserMessage, StartSession
from domain.session.service import StartWithMessage, post_user, start_with_message
from domain.tool.commands import RequestTool
from domain.tool.service import request_tool
from eventstore.store import PostgresEventStore
from observability.http import tls
from projections.status import ViewStatus, statuses
from projections.views import VIEWS, Keys
from stack import Endpoints
from stack.ports import free_port
from tests.conftest import registered_codec
from tests.integration.test_projections_fold_model import redis_state
from tests.support.cli import agentlog
from tests.support.processes import Processes, until
from tests.unit.projections.model import Folded

pytestmark = pytest.mark.serial  # a process killed, a rebalance waited for: alone, at the end of the suite

PARTITIONS = 3  # per topic, as the relay makes them (AGENTLOG_TOPIC_PARTITIONS)
WRITERS = 3
BEFORE_KILL = 6.0  # seconds of writing before the kill, and after the replacement joined
READY = "projections running"


@dataclass
class Written:
    """What the writers appended (commands that returned), counted by kind."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


@dataclass
class Setup:
    processes: Processes
    env: dict[str, str]
    servers: Endpoints
    codec: EventCodec
    schema: str
    prefix: str
    ports: dict[str, int] = field(default_factory=dict)

    def start_projections(self, name: str) -> None:
        self.ports[name] = free_port()
        self.processes.start(name, "projections", "run", AGENTLOG_PROJECTIONS_METRICS_PORT=str(self.ports[name]))

    def scrape(self, name: str) -> dict[tuple[str, str], float]:
        """(sample, view) -> value of the process's projection samples; outcome folded into the sample name."""
        text = httpx.get(f"http://127.0.0.1:{self.ports[name]}/metrics", timeout=5, verify=tls()).text
        found: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith("agentlog_projection_") and "projection" in s.labels:
                    sample = s.name + (f":{s.labels['outcome']}" if "outcome" in s.labels else "")
                    found[(sample, s.labels["projection"])] = s.value
        return found

    def partitions(self, name: str) -> dict[str, int]:
        """How many partitions of each view the process reads."""
        return {view: int(v) for (sample, view), v in self.scrape(name).items() if sample.endswith("_partitions")}

    def counted(self, name: str, outcome: str) -> int:
        """Events the process counted with `outcome` (applied, duplicate, dead_lettered), over every view."""
        wanted = f"agentlog_projection_events_total:{outcome}"
        return int(sum(v for (sample, _), v in self.scrape(name).items() if sample == wanted))

    def applied(self, name: str) -> int:
        return self.counted(name, "applied")


def total_partitions(view: str) -> int:
    return PARTITIONS * len(VIEWS[view].topics)


@pytest.fixture
def setup(servers, registry, tmp_path) -> Iterator[Setup]:
    unique = uuid.uuid4().hex[:8]
    schema, prefix = f"cl_{unique}", f"cl:{unique}:"
    with registered_codec(servers, registry) as codec:
        env = {
            **servers.as_env(),
            "AGENTLOG_DB_SCHEMA": schema,
            "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
            "AGENTLOG_REDIS_PREFIX": prefix,
            "AGENTLOG_TOPIC_PARTITIONS": str(PARTITIONS),
        }
        migrated = agentlog("db", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        processes = Processes(env, tmp_path)
        try:
            yield Setup(processes, env, servers, codec, schema, prefix)
        finally:
            processes.stop_all()
            drop_schema(servers.postgres_dsn, schema)
            drop_keys(servers.redis_url, prefix)


def test_three_processes_share_the_views_and_a_sigkill_loses_and_repeats_nothing(setup: Setup):
    began = time.monotonic()
    processes = setup.processes
    processes.start("relay", "relay", AGENTLOG_RELAY_METRICS_PORT=str(free_port()))
    processes.ready("relay", "relay 'main':")  # it makes the topics the projections subscribe to
    first = ["projections", "projections-2", "projections-3"]
    for name in first:
        setup.start_projections(name)
    for name in first:
        processes.ready(name, READY)
    spread = until(lambda: _spread(setup, first), "every view's partitions spread over the three processes", 60)

    stop, written = threading.Event(), Written()
    writer = threading.Thread(target=lambda: asyncio.run(_write(setup, stop, written)), daemon=True)
    writer.start()
    try:
        until(lambda: all(setup.applied(name) > 0 for name in first), "each process applying events", 60)
        time.sleep(BEFORE_KILL)
        before = {name: setup.partitions(name) for name in first}
        applied_before = {name: setup.applied(name) for name in first}
        processes.kill("projections-3")
        killed_at = time.monotonic()
        survivors = first[:2]
        seen_behind = _behind_while(setup, lambda: _cover(setup, survivors))
        taken_over = until(lambda: _cover(setup, survivors), "the survivors taking over every partition", 60)
        rebalance = time.monotonic() - killed_at
        setup.start_projections("projections-4")
        processes.ready("projections-4", READY)
        until(lambda: sum(setup.partitions("projections-4").values()) > 0, "the replacement getting partitions", 60)
        time.sleep(BEFORE_KILL)
    finally:
        stop.set()
        writer.join(60)
    assert not written.errors, written.errors[:5]
    running = [*survivors, "projections-4"]
    caught_up = asyncio.run(_caught_up(setup))
    state = asyncio.run(_compare(setup))
    after = {name: setup.partitions(name) for name in running}
    duplicates = sum(setup.counted(name, "duplicate") for name in running)
    print(  # the figures a reader of the run wants (pytest -s)
        f"\nwritten {dict(written.counts)} ({state.events} events); partitions before the kill {before}; "
        f"applied before the kill {applied_before}; the survivors' after the takeover {taken_over} "
        f"({rebalance:.1f} s after the kill); "
        f"with the replacement {after}; duplicates seen {duplicates}; caught up {caught_up:.1f} s after writing "
        f"stopped; {time.monotonic() - began:.0f} s in all"
    )

    assert all(min(share.values()) >= 1 for share in spread.values())  # every process read part of every view
    assert all(n > 0 for n in applied_before.values())
    assert seen_behind, "no view showed the killed process's partitions as behind before they moved"
    assert all(sum(shares[v] for shares in taken_over.values()) == total_partitions(v) for v in VIEWS)
    assert all(sum(after[name][v] for name in running) == total_partitions(v) for v in VIEWS)
    assert sum(after["projections-4"].values()) > 0
    assert state.mismatched == [], state.mismatched  # every view equals a fold of the store: nothing twice
    assert state.missing == 0  # every stored event of a view's topics is marked applied in it


def _spread(setup: Setup, names: list[str]) -> dict[str, dict[str, int]] | None:
    shares = {name: setup.partitions(name) for name in names}
    full = all(sum(s.get(v, 0) for s in shares.values()) == total_partitions(v) for v in VIEWS)
    return shares if full and all(min(s.get(v, 0) for s in shares.values()) >= 1 for v in VIEWS) else None


def _cover(setup: Setup, names: list[str]) -> dict[str, dict[str, int]] | None:
    shares = {name: setup.partitions(name) for name in names}
    return shares if all(sum(s.get(v, 0) for s in shares.values()) == total_partitions(v) for v in VIEWS) else None


def _behind_while(setup: Setup, done) -> bool:
    """Whether, before `done()` holds, the views' status said some view is behind (the orphaned partitions)."""
    seen = False
    while not done():
        seen = seen or any(s.lag_events > 0 for s in asyncio.run(_statuses(setup)))
        time.sleep(0.3)
    return seen


async def _statuses(setup: Setup) -> list[ViewStatus]:
    client = aioredis.Redis.from_url(setup.servers.redis_url, decode_responses=True)
    conn = await asyncpg.connect(setup.servers.postgres_dsn, server_settings={"search_path": setup.schema})
    try:
        bootstrap = setup.servers.kafka_bootstrap_servers
        return await statuses(client, conn, bootstrap, setup.codec.routing, setup.prefix, list(VIEWS.values()))
    finally:
        await conn.close()
        await client.aclose()


async def _caught_up(setup: Setup, timeout: float = 90.0) -> float:
    """Seconds until every view's status says nothing waits (the store's events and the group's partitions)."""
    began = time.monotonic()
    while any(s.lag_events for s in await _statuses(setup)):
        assert time.monotonic() - began < timeout, "the views did not catch up"
        await asyncio.sleep(0.5)
    return time.monotonic() - began


async def _write(setup: Setup, stop: threading.Event, written: Written) -> None:
    store = await PostgresEventStore.connect(setup.servers.postgres_dsn, setup.codec, schema=setup.schema)
    try:
        await asyncio.gather(*(_writer(store, n, stop, written) for n in range(WRITERS)))
    finally:
        await store.close()


async def _writer(store: PostgresEventStore, n: int, stop: threading.Event, written: Written) -> None:
    """Sessions with messages, token charges and tool requests, in turn, until `stop`."""
    tenant, turn = f"t{n}", 0
    sessions: list[uuid.UUID] = []
    while not stop.is_set():
        context = CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))
        try:
            if turn % 10 == 0 or not sessions:
                sessions.append(uuid.uuid4())
                start = StartSession(session_id=sessions[-1], tenant_id=tenant)
                hello = PostUserMessage(session_id=sessions[-1], tenant_id=tenant, message_id=uuid.uuid4(), text="hi")
                await start_with_message(store, context, StartWithMessage(start=start, message=hello))
                written.counts["sessions"] += 1
            elif turn % 5 == 1:
                persona, day = f"p{turn % 12}", date(2026, 1, 1)  # a dozen streams: some on every partition
                charge = ConsumeTokens(tenant_id=tenant, persona_id=persona, day=day, tokens=1 + turn % 7)
                await consume_tokens(store, context, charge)
                written.counts["charges"] += 1
            elif turn % 5 == 3:
                call = RequestTool(request_id=uuid.uuid4(), tool_name="echo", arguments_json="{}")
                await request_tool(store, context, call)
                written.counts["tool requests"] += 1
            else:
                session = sessions[turn % len(sessions)]
                message = PostUserMessage(
                    session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"m{turn}"
                )
                await post_user(store, context, message)
                written.counts["messages"] += 1
        except Exception as e:  # the test fails on any, once the writers stopped
            written.errors.append(f"{type(e).__name__}: {e}")
        turn += 1


@dataclass(frozen=True)
class Compared:
    events: int
    mismatched: list[str]
    missing: int


async def _compare(setup: Setup) -> Compared:
    """Each view's keys against a fold of the store's events (in position order) by the model of the script."""
    conn = await asyncpg.connect(setup.servers.postgres_dsn, server_settings={"search_path": setup.schema})
    rows = await conn.fetch("SELECT topic, stream_id, version, payload FROM events ORDER BY position")
    await conn.close()
    client = aioredis.Redis.from_url(setup.servers.redis_url, decode_responses=True)
    raw = aioredis.Redis.from_url(setup.servers.redis_url)
    mismatched, missing = [], 0
    try:
        for name, view in VIEWS.items():
            keys = Keys(setup.prefix, name)
            topics = {setup.codec.routing.prefix + t for t in view.topics}
            mine = [row for row in rows if row["topic"] in topics]
            expected = Folded(view, keys).fold(setup.codec.decode(row["payload"]) for row in mine).state
            actual = await redis_state(client, raw, keys)
            for kept in ("current", "runners"):  # the runners' own bookkeeping, beside the view
                actual.pop(keys.shared(kept), None)
            if actual != expected:
                wrong = sorted(k for k in actual.keys() | expected.keys() if actual.get(k) != expected.get(k))
                mismatched.append(f"{name}: {len(wrong)} keys differ, e.g. {wrong[:3]}")
            for row in mine:
                missing += not await raw.getbit(keys("applied", row["stream_id"]), row["version"])
    finally:
        await client.aclose()
        await raw.aclose()
    return Compared(len(rows), mismatched, missing)
