"""Growth benchmark: append rate and stream load time as the store grows (0, 1M, 10M stored events by default).

The store is filled between marks with other tenants' sessions (100 events each, real encoded
MessagePosted rows, written by SQL in large statements: the fill is setup, not measured). At each
mark: commands/s through the session services on new and on existing streams (as `bench append`
measures them), and the time to load, with an empty state cache, a session of `--stream-length`
events made at the first mark (old rows) and one made at this mark (new rows), each with its
snapshots (every 50 events) and, for comparison, folded whole with snapshots out of the way.
Every figure is reported beside the same figure at the first mark: a ratio near 1 is a flat curve.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import typer

from bench.append import TENANT, Ours, context, fresh_schema, per_writer, ready_codec
from bench.codec import TEXT
from bench.common import Result, endpoints, median, out, write_results
from domain.events import EventMetadata, RecordedEvent
from domain.session import aggregate as session
from domain.session.commands import PostUserMessage
from domain.session.events import MessagePosted, Role, SessionStarted
from domain.session.service import post_user
from eventstore.store import PostgresEventStore

SCHEMA = "bench_growth"
FILL_CHUNK = 250_000  # rows per fill statement (one transaction each)
_FILL = f"""
INSERT INTO {SCHEMA}.events (stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                             tenant_id, correlation_id, occurred_at)
SELECT 'filler-' || (g / 100), 'session', (g % 100) + 1, $1, gen_random_uuid(), $2, $3, $4, 'growth-filler',
       gen_random_uuid(), now()
FROM generate_series($5::bigint, $6::bigint - 1) AS g
"""


def filler(codec: Any) -> tuple[str, int, str, bytes]:
    """A real encoded user message: (event type, schema id, topic, payload) of every filler row."""
    session_id = uuid.uuid4()
    meta = EventMetadata(
        event_id=uuid.uuid4(),
        stream_id=str(session_id),
        stream_type="session",
        stream_version=2,
        tenant_id="growth-filler",
        occurred_at=datetime.now(UTC),
        correlation_id=uuid.uuid4(),
    )
    event = MessagePosted(session_id=session_id, message_id=uuid.uuid4(), role=Role.USER, text=TEXT)
    encoded = codec.encode(RecordedEvent(meta=meta, event=event))
    return encoded.event_type, encoded.schema_id, encoded.topic, encoded.value


async def fill(dsn: str, row: tuple[str, int, str, bytes], start: int, end: int) -> None:
    """Filler rows numbered start..end-1, in statements of FILL_CHUNK rows, with progress."""
    conn = await asyncpg.connect(dsn)
    try:
        began = time.perf_counter()
        for low in range(start, end, FILL_CHUNK):
            await conn.execute(_FILL, *row, low, min(low + FILL_CHUNK, end))
            done = min(low + FILL_CHUNK, end)
            rate = (done - start) / (time.perf_counter() - began)
            out.print(f"[dim]· filled {done:,} events ({rate:,.0f}/s)[/dim]", highlight=False)
    finally:
        await conn.close()


async def analyze(dsn: str) -> None:
    """Statistics as autovacuum keeps them in a store that runs for a while (a fresh table has none)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"VACUUM ANALYZE {SCHEMA}.events, {SCHEMA}.snapshots")
    finally:
        await conn.close()


async def long_session(store: PostgresEventStore, length: int) -> uuid.UUID:
    """A session of `length` events (started, then user messages) through the session service."""
    session_id = uuid.uuid4()
    started = SessionStarted(session_id=session_id, tenant_id=TENANT)
    await store.append(session.stream_id(session_id), session.STREAM_TYPE, 0, [started], context())
    for _ in range(length - 1):
        command = PostUserMessage(session_id=session_id, tenant_id=TENANT, message_id=uuid.uuid4(), text=TEXT)
        await post_user(store, context(), command)
    return session_id


async def load_ms(store: PostgresEventStore, session_id: uuid.UUID, *, snapshots: bool, times: int = 20) -> float:
    """Median milliseconds to load the session with an empty state cache (with its snapshots, or folded whole),
    after as many untimed loads (each pooled connection prepares the statement on its first use)."""
    stream = session.stream_id(session_id)
    took = []
    for _ in range(2 * times):
        store._states.clear()
        began = time.perf_counter()
        if snapshots:
            await store.load(session.DECIDER, stream)
        else:
            session.DECIDER.fold(event for _, event in await store.recorder.read_after(stream, 0))
        took.append((time.perf_counter() - began) * 1000)
    return median(took[times:])


def at_mark(
    ours: Ours, mark: int, writers: int, commands: int, rounds: int, sessions: dict[str, uuid.UUID]
) -> dict[str, float]:
    """Every figure at one size of the store, each after an untimed warm-up batch (the fill's rows are cold)."""

    def make() -> list[list[uuid.UUID]]:  # untimed setup: fresh streams, each writer its own
        return per_writer(ours.create_streams(max(writers, commands // 10)), writers)

    ours.new_streams(writers, commands)
    ours.existing_streams(make(), commands)
    new = _timed(lambda: None, lambda _: ours.new_streams(writers, commands), rounds)
    existing = _timed(make, lambda streams: ours.existing_streams(streams, commands), rounds)
    figures = {"append new streams": new, "append existing streams": existing}
    for age, session_id in sessions.items():
        for snapshots in (True, False):
            name = f"load {age} session{'' if snapshots else ', no snapshots'}"
            figures[name] = ours.loop.run_until_complete(load_ms(ours.store, session_id, snapshots=snapshots))
    out.print(f"[dim]· at {mark:,} events: {', '.join(f'{k} {v:,.1f}' for k, v in figures.items())}[/dim]")
    return figures


def _timed(prepare: Callable[[], Any], batch: Callable[[Any], int], rounds: int) -> float:
    """Median events/s of `rounds` batches, each given what `prepare` made for it (untimed)."""
    rates = []
    for _ in range(rounds):
        made = prepare()
        began = time.perf_counter()
        done = batch(made)
        rates.append(done / (time.perf_counter() - began))
    return median(rates)


def main(
    marks: Annotated[list[int] | None, typer.Option("--mark", help="stored events to measure at (repeat)")] = None,
    writers: Annotated[int, typer.Option(help="concurrent writers of the append figures")] = 16,
    commands: Annotated[int, typer.Option(help="commands per timed batch")] = 2000,
    rounds: Annotated[int, typer.Option(help="batches per figure; the median is reported")] = 3,
    stream_length: Annotated[int, typer.Option(help="events of the sessions whose load is timed")] = 1000,
) -> None:
    """Append rate and load time at growing sizes of the store, each beside its value at the first mark."""
    servers = endpoints()
    dsn = servers.postgres_dsn
    codec = ready_codec(servers.schema_registry_url)
    fresh_schema(dsn, SCHEMA)
    row = filler(codec)
    loop = asyncio.new_event_loop()
    ours = Ours(loop, loop.run_until_complete(PostgresEventStore.connect(dsn, codec, schema=SCHEMA, pool_size=writers)))
    chosen = sorted(marks or [0, 1_000_000, 10_000_000])
    results: list[Result] = []
    first: dict[str, float] = {}
    filled = 0
    old = loop.run_until_complete(long_session(ours.store, stream_length))
    try:
        for mark in chosen:
            loop.run_until_complete(fill(dsn, row, filled, max(mark, filled)))
            filled = max(mark, filled)
            recent = loop.run_until_complete(long_session(ours.store, stream_length))
            loop.run_until_complete(analyze(dsn))
            figures = at_mark(ours, mark, writers, commands, rounds, {"old": old, "new": recent})
            first = first or figures
            for name, value in figures.items():
                events_per_s = name.startswith("append")
                results.append(Result(
                    f"{name} at {mark:,} events", value, "events/s" if events_per_s else "ms", events_per_s,
                    f"at {chosen[0]:,} events", first[name],
                    {"stored": mark, "writers": writers} if events_per_s else {"stored": mark, "events": stream_length},
                ))  # fmt: skip
    finally:
        ours.close()
        loop.close()
    write_results("growth", results)
    out.print(chart(results), highlight=False, markup=False)


def chart(results: list[Result]) -> str:
    """The curves as Mermaid xycharts (GitHub draws them), for bench/README.md: append rates, then load times."""
    marks = sorted({r.params["stored"] for r in results})
    x = ", ".join(f'"{m / 1e6:g}M"' for m in marks)
    blocks = []
    for title, unit, prefix in (("append, events/s", "events/s", "append"), ("cold load, ms", "ms", "load")):
        series: dict[str, list[float]] = {r.metric.split(" at ")[0]: [] for r in results if r.metric.startswith(prefix)}
        for r in results:
            if r.metric.startswith(prefix):
                series[r.metric.split(" at ")[0]].append(r.value)
        top = max(v for values in series.values() for v in values) * 1.2
        lines = [f"    line [{', '.join(f'{v:.1f}' for v in values)}]" for values in series.values()]
        names = "; ".join(f"line {i + 1}: {name}" for i, name in enumerate(series))
        blocks.append(
            f'<!-- {names} -->\n```mermaid\nxychart-beta\n    title "{title} by stored events"\n'
            f'    x-axis [{x}]\n    y-axis "{unit}" 0 --> {top:.0f}\n' + "\n".join(lines) + "\n```"
        )
    return "\n\n".join(blocks)


if __name__ == "__main__":
    typer.run(main)
