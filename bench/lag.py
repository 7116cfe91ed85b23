"""Lag benchmark: append -> visible in Redis (p50, p99, max) at a steady command rate, relay and projections running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import redis
import typer
from rich.status import Status

from bench.append import fresh_schema
from bench.codec import TEXT
from bench.common import Result, endpoints, out, write_results
from bench.projection import compact_aof, drop_keys, scratch
from bench.rebuild import drop_schema
from contracts.codec import EventCodec
from domain.events import CommandContext
from domain.session.commands import PostUserMessage, StartSession
from domain.session.service import StartWithMessage, post_user, start_with_message
from eventstore.store import PostgresEventStore
from projections.views import Keys
from stack import Endpoints

SCHEMA = "bench_lag"
TENANT = "bench-lag"
AGENTLOG = str(Path(sys.executable).with_name("agentlog"))
PROCESSES = (("relay",), ("projections", "run", "transcript"))

Processes = list[subprocess.Popen[bytes]]


def environment(servers: Endpoints, topic_prefix: str, redis_prefix: str) -> dict[str, str]:
    """The relay's and the projections' settings: our servers, schema, topic and key prefixes, no metrics port."""
    return {
        **os.environ,
        **servers.as_env(),
        "AGENTLOG_DB_SCHEMA": SCHEMA,
        "AGENTLOG_TOPIC_PREFIX": topic_prefix,
        "AGENTLOG_REDIS_PREFIX": redis_prefix,
        "AGENTLOG_RELAY_NAME": "bench-lag",
        "AGENTLOG_PROJECTIONS_METRICS_PORT": "0",
        "AGENTLOG_PROJECTION_METRICS_PORT": "0",  # the setting's earlier name
    }


@contextlib.contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[Processes]:
    """`agentlog relay` and `agentlog projections run transcript` as processes; SIGTERM (then kill) afterwards."""
    with log.open("wb") as sink:
        started = [subprocess.Popen([AGENTLOG, *args], env=env, stdout=sink, stderr=sink) for args in PROCESSES]
        try:
            yield started
        finally:
            for process in started:
                process.terminate()
            for process in started:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Visible:
    """A thread tailing the sessions' live streams with XREAD BLOCK on its own connection: message id -> when seen."""

    def __init__(self, redis_url: str, prefix: str, sessions: list[uuid.UUID]) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.streams = [Keys(prefix, "transcript").shared("live", session) for session in sessions]
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-visible", daemon=True)

    def __enter__(self) -> Visible:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()

    def _run(self) -> None:
        after: dict[Any, Any] = dict.fromkeys(self.streams, "0-0")
        while not self._stop.is_set():
            found: Any = self.client.xread(after, count=1000, block=100)
            now = time.perf_counter()
            for stream, entries in found or []:
                for entry, fields in entries:
                    after[stream.decode()] = entry
                    if fields.get(b"kind") == b"message":
                        self.seen.setdefault(json.loads(fields[b"data"])["message_id"], now)


def context() -> CommandContext:
    return CommandContext(tenant_id=TENANT, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def start(store: PostgresEventStore, session: uuid.UUID) -> str:
    """Open a session with its first message (through the command service); returns the message id."""
    first = PostUserMessage(session_id=session, tenant_id=TENANT, message_id=uuid.uuid4(), text=TEXT)
    begin = StartSession(session_id=session, tenant_id=TENANT)
    await start_with_message(store, context(), StartWithMessage(start=begin, message=first))
    return str(first.message_id)


async def wait_until(visible: Visible, wanted: set[str], processes: Processes, timeout: float) -> None:
    """Until every wanted message is visible; fails when a process died or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not wanted <= visible.seen.keys():
        if died := [p.args for p in processes if p.poll() is not None]:
            raise RuntimeError(f"{died} exited early")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(wanted - visible.seen.keys())} of {len(wanted)} messages never became visible")
        await asyncio.sleep(0.05)


async def steady(
    store: PostgresEventStore, sessions: list[uuid.UUID], rate: int, seconds: float, status: Status
) -> tuple[dict[str, float], float]:
    """PostUserMessage commands at `rate`/s for `seconds`, command i to session i % len(sessions), each its own
    task started on schedule (one at a time per session); message id -> perf_counter when its append completed.
    Also returns the command rate achieved (commands / first start to last completion)."""
    locks = {session: asyncio.Lock() for session in sessions}
    done: dict[str, float] = {}

    async def post(session: uuid.UUID) -> None:
        command = PostUserMessage(session_id=session, tenant_id=TENANT, message_id=uuid.uuid4(), text=TEXT)
        async with locks[session]:
            await post_user(store, context(), command)
        done[str(command.message_id)] = time.perf_counter()

    tasks, total = [], int(rate * seconds)
    began = time.perf_counter()
    for i in range(total):
        if (delay := began + i / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(sessions[i % len(sessions)])))
        if i % rate == 0:
            status.update(f"writing {rate:,} commands/s: {i:,}/{total:,} sent")
    await asyncio.gather(*tasks)
    return done, total / (max(done.values()) - began)


async def measure(
    servers: Endpoints, codec: EventCodec, env: dict[str, str], log: Path, sessions: int, rate: int, seconds: float
) -> tuple[list[float], float]:
    """Lags in ms (append complete -> visible on the live stream) of a steady run; and the command rate achieved."""
    ids = [uuid.uuid4() for _ in range(sessions)]
    store = await PostgresEventStore.connect(servers.postgres_dsn, codec, schema=SCHEMA, pool_size=16)
    try:
        with running(env, log) as processes, Visible(servers.redis_url, env["AGENTLOG_REDIS_PREFIX"], ids) as visible:
            with out.status(f"starting {sessions} sessions; waiting for the relay and the projection") as status:
                firsts = await asyncio.gather(*(start(store, session) for session in ids))
                await wait_until(visible, set(firsts), processes, 60)  # connections warm, consumer group joined
                sent, achieved = await steady(store, ids, rate, seconds, status)
                status.update(f"waiting for the last of {len(sent):,} messages to become visible")
                await wait_until(visible, set(sent), processes, 60)
            return [1000 * (visible.seen[m] - at) for m, at in sent.items()], achieved
    finally:
        await store.close()


def main(
    rate: Annotated[int, typer.Option(help="PostUserMessage commands per second")] = 1000,
    seconds: Annotated[float, typer.Option(help="length of the steady run")] = 30.0,
    sessions: Annotated[int, typer.Option(help="sessions the commands are spread over")] = 200,
) -> None:
    """Append -> visible in Redis at a steady command rate, through the real relay and projection processes."""
    servers = endpoints()
    fresh_schema(servers.postgres_dsn, SCHEMA)
    compact_aof(servers.redis_url)  # no automatic rewrite left half way from an earlier run
    redis_prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    try:
        with scratch(servers) as codec, tempfile.TemporaryDirectory() as tmp:
            env = environment(servers, codec.routing.prefix, redis_prefix)
            log = Path(tmp) / "processes.log"
            try:
                lags, achieved = asyncio.run(measure(servers, codec, env, log, sessions, rate, seconds))
            except (RuntimeError, TimeoutError):
                out.print(log.read_text()[-3000:], markup=False, highlight=False)
                raise
    finally:
        drop_keys(servers.redis_url, redis_prefix)
        drop_schema(servers.postgres_dsn, SCHEMA)
    cut = statistics.quantiles(lags, n=100, method="inclusive")
    params = {
        "rate": rate,
        "seconds": seconds,
        "sessions": sessions,
        "messages": len(lags),
        "achieved_rate": round(achieved),
    }
    write_results(
        "lag",
        [
            Result("append -> visible p50", cut[49], "ms", False, params=params),
            Result("append -> visible p99", cut[98], "ms", False, params=params),
            Result("append -> visible max", max(lags), "ms", False, params=params),
            Result("commands written", achieved, "commands/s", True, params={"rate": rate, "seconds": seconds}),
        ],
    )


if __name__ == "__main__":
    typer.run(main)
