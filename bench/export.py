"""Export benchmark: `agentlog replay export` over a million stored events, to each format, next to
reading the same events through the `eventsourcing` library's notification log into JSON Lines.

Setup (untimed, kept between runs): `--events` events appended through agentlog's real append path
(`PostgresEventStore.append`, Avro-encoded and validated) into the schema `bench_export`, as
conversations (a session started, then user messages, reply chunks and replies) and their token
charges; the same number of events saved by an `eventsourcing` application (PostgreSQL, JSON) in
`bench_export_peer`. Timed: each export is its own process (the real `agentlog` command, its rate
taken from its `--json` summary, which leaves out the interpreter's start), and its peak RSS is
that process's `ru_maxrss`, measured at `--small` events (by `--to-position`) and at all of them.
The peer runs in its own process too (`python -m bench.export peer`), reading the notification log a
page at a time (`select_notifications`), turning each event's JSON state into a dict and writing a
JSON line per event.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
import psycopg
import typer
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.append import peer_env, ready_codec
from bench.common import Result, endpoints, out, write_results
from domain.budget.events import ReservationSettled, TokensReserved
from domain.events import CommandContext, DomainEvent
from domain.session.events import AssistantReplyChunk, MessagePosted, Role, SessionStarted
from eventstore.migrate import migrate
from eventstore.store import PostgresEventStore

PEER = "eventsourcing"
SCHEMA = "bench_export"
PEER_SCHEMA = "bench_export_peer"
STREAM_EVENTS = 100  # events per appended stream
QUESTION = "Summarise what changed in the quarterly report, and who owns the follow-up items?"
ANSWER = "Revenue rose 4%; two items are open: the migration plan (Dana) and the vendor review (Lee)."
PAGE = 10_000
FORMATS = ("jsonl", "avro", "parquet")
app = typer.Typer(add_completion=False)


def conversation(tenant: str, session_id: uuid.UUID, count: int) -> list[DomainEvent]:
    """A session of `count` events: started, then turns of a question, a reply chunk and the reply."""
    events: list[DomainEvent] = [SessionStarted(session_id=session_id, tenant_id=tenant, persona_id="helper")]
    while len(events) < count:
        reply = uuid.uuid4()
        turn: list[DomainEvent] = [
            MessagePosted(session_id=session_id, message_id=uuid.uuid4(), role=Role.USER, text=QUESTION),
            AssistantReplyChunk(session_id=session_id, message_id=reply, index=0, text=ANSWER[:40]),
            MessagePosted(session_id=session_id, message_id=reply, role=Role.ASSISTANT, text=ANSWER),
        ]
        events += turn
    return events[:count]


def charges(tenant: str, count: int) -> list[DomainEvent]:
    """A day's budget stream of `count` events: reservations and their settlements."""
    day, events, reservation = datetime.now(UTC).date(), list[DomainEvent](), uuid.uuid4()
    for i in range(count):
        if i % 2 == 0:
            reservation = uuid.uuid4()
            events.append(TokensReserved(tenant_id=tenant, persona_id="helper", day=day, reservation_id=reservation,
                                         tokens=120, used_after=120 * (i + 1), limit=10**9))  # fmt: skip
        else:
            events.append(ReservationSettled(tenant_id=tenant, persona_id="helper", day=day,
                                             reservation_id=reservation, reserved=120, actual=96, charged=96,
                                             used_after=96 * (i + 1), limit=10**9))  # fmt: skip
    return events


async def fill_ours(dsn: str, registry_url: str, total: int) -> int:
    """Append events until the schema holds `total` (kept from an earlier run); how many it holds."""
    migrate(dsn, SCHEMA)
    codec = ready_codec(registry_url)
    store = await PostgresEventStore.connect(dsn, codec, schema=SCHEMA, pool_size=4)
    try:
        have = int(await store.pool.fetchval("SELECT count(*) FROM events"))
        began, stream = time.perf_counter(), 0
        while have < total:
            tenant = f"tenant-{stream % 7}"
            count = min(STREAM_EVENTS, total - have)
            context = CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))
            if stream % 5 == 4:
                events, stream_id, kind = charges(tenant, count), f"budget:{tenant}:{uuid.uuid4()}", "budget"
            else:
                session_id = uuid.uuid4()
                events, stream_id, kind = conversation(tenant, session_id, count), str(session_id), "session"
            await store.append(stream_id, kind, 0, events, context)
            have, stream = have + count, stream + 1
            if stream % 1000 == 0:
                out.print(f"[dim]appended {have:,} events ({have / (time.perf_counter() - began):,.0f}/s)[/dim]")
        return have
    finally:
        await store.close()


class Conversation(Aggregate):
    """The peer's conversation: the same messages as ours, as the library's own events (JSON)."""

    @event("Started")
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id

    @event("Posted")
    def post(self, message_id: str, role: str, text: str) -> None:
        self.last = text


class Conversations(Application[uuid.UUID]):
    """The peer application; its events are in `bench_export_peer.conversations_events`."""


def peer_app(dsn: str) -> Conversations:
    env = {**peer_env(dsn, 2), "POSTGRES_SCHEMA": PEER_SCHEMA}
    return Conversations(env=env)


def fill_peer(dsn: str, total: int) -> int:
    """Save events with the eventsourcing application until it holds `total`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PEER_SCHEMA}")
    application = peer_app(dsn)
    have = application.recorder.max_notification_id() or 0
    while have < total:
        conversation = Conversation(tenant_id="tenant-0")
        for i in range(min(STREAM_EVENTS, total - have) - 1):
            conversation.post(
                str(uuid.uuid4()), "user" if i % 2 == 0 else "assistant", QUESTION if i % 2 == 0 else ANSWER
            )
        application.save(conversation)
        have = application.recorder.max_notification_id() or 0
    application.close()
    return have


@app.command("peer")
def peer_export(out_path: Path, limit: int) -> None:
    """(The peer's side, run in its own process.) `limit` events of the notification log as JSON Lines;
    prints {"events", "seconds"}."""
    application = peer_app(os.environ["POSTGRES_DSN"])
    began, start, done = time.perf_counter(), 1, 0
    with open(out_path, "wb") as sink:
        while done < limit:
            page = application.recorder.select_notifications(start, min(PAGE, limit - done))
            if not page:
                break
            lines = [
                orjson.dumps({"id": n.id, "originator_id": str(n.originator_id), "topic": n.topic,
                              "originator_version": n.originator_version, "state": json.loads(n.state)})
                for n in page
            ]  # fmt: skip
            lines.append(b"")
            sink.write(b"\n".join(lines))
            done, start = done + len(page), page[-1].id + 1
    sys.stdout.write(json.dumps({"events": done, "seconds": time.perf_counter() - began}) + "\n")


def measured(command: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run `command`; (its JSON summary, its peak RSS in MiB)."""
    with tempfile.TemporaryFile() as stdout:
        child = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        if status:
            raise RuntimeError(f"{' '.join(command)} failed (status {status})")
        stdout.seek(0)
        summary = json.loads(stdout.read())
    return summary[0] if isinstance(summary, list) else summary, usage.ru_maxrss / 1024


async def position_of(dsn: str, nth: int) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
    try:
        return int(await conn.fetchval("SELECT position FROM events ORDER BY position OFFSET $1 LIMIT 1", nth - 1))
    finally:
        await conn.close()


@app.command()
def main(
    events: Annotated[int, typer.Option(help="events in the store (and the peer's)")] = 1_000_000,
    small: Annotated[int, typer.Option(help="the smaller export, for the RSS comparison")] = 100_000,
) -> None:
    """Exports of `events` stored events to JSON Lines, Avro and Parquet, next to eventsourcing's notification log."""
    servers = endpoints()
    dsn = servers.postgres_dsn
    with out.status("filling the store (kept between runs)"):
        held = asyncio.run(fill_ours(dsn, servers.schema_registry_url, events))
        peer_held = fill_peer(dsn, events)
    out.print(f"[dim]{held:,} events in {SCHEMA}, {peer_held:,} in {PEER_SCHEMA}[/dim]")
    agentlog = str(Path(sys.executable).with_name("agentlog"))
    env = {**os.environ, **servers.as_env(), "AGENTLOG_DB_SCHEMA": SCHEMA, "AGENTLOG_LOG_LEVEL": "warning"}
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in (small, events):
            to = asyncio.run(position_of(dsn, size))
            peer_command = [sys.executable, "-m", "bench.export", "peer", f"{scratch}/peer.jsonl", str(size)]
            peer, peer_rss = measured(peer_command, env)
            peer_rate = peer["events"] / peer["seconds"]
            for fmt in FORMATS:
                target = f"{scratch}/{fmt}" + (".jsonl" if fmt == "jsonl" else ".avro" if fmt == "avro" else "")
                command = [agentlog, "replay", "export", "-f", fmt, "-o", target, "--to-position", str(to), "--json"]
                summary, rss = measured(command, env)
                assert summary["events"] == size, summary
                rate = summary["events"] / summary["seconds"]
                files = [Path(f) for f in summary["files"]]
                size_bytes = sum(f.stat().st_size for f in files)
                out.print(f"[dim]{fmt}: {size:,} events, {rate:,.0f}/s, peak RSS {rss:.0f} MiB, "
                          f"{size_bytes / 2**20:.0f} MiB written[/dim]")  # fmt: skip
                params = {"events": size, "file_mib": round(size_bytes / 2**20, 1)}
                compared = fmt == "jsonl"  # the peer writes JSON Lines
                results.append(Result(f"export to {fmt}, {size:,} events", rate, "events/s", True,
                                      PEER if compared else None, peer_rate if compared else None, params))  # fmt: skip
                results.append(Result(f"peak RSS, {fmt}, {size:,} events", rss, "MiB", False,
                                      PEER if compared else None, peer_rss if compared else None, params))  # fmt: skip
    write_results("export", results)


if __name__ == "__main__":
    sys.argv[1:1] = [] if len(sys.argv) > 1 and sys.argv[1] == "peer" else ["main"]
    app()
