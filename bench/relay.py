"""Relay benchmark: Postgres -> Kafka throughput of a backlog, and append -> consumed latency at a steady rate.

Both through the real `eventstore.relay.Relay`, in-process, on a schema of its own (`bench_relay`)
filled with real codec-encoded events on the default routing's topics. There is no peer.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import typer
from confluent_kafka import Consumer, TopicPartition

from bench.append import fresh_schema, ready_codec
from bench.codec import TEXT
from bench.common import Result, endpoints, median, out, write_results
from contracts.codec import EventCodec
from contracts.topics import ensure_topics
from domain.events import CommandContext, DomainEvent, EventMetadata, RecordedEvent
from domain.session.events import MessagePosted, Role, SessionStarted
from eventstore.relay import Relay
from eventstore.store import PostgresEventStore

SCHEMA = "bench_relay"
TENANT = "bench-relay"
COLUMNS = (
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "event_id",
    "schema_id",
    "topic",
    "payload",
    "tenant_id",
    "correlation_id",
    "causation_id",
    "occurred_at",
)
PREFILL_TRANSACTION = 10_000  # rows per COPY (each COPY is one transaction, so one txid)


def session_event(session: uuid.UUID, version: int) -> DomainEvent:
    """Version 1 starts the session; then user and assistant messages alternate (inbound and outbound topics)."""
    if version == 1:
        return SessionStarted(session_id=session, tenant_id=TENANT)
    role = Role.USER if version % 2 == 0 else Role.ASSISTANT
    return MessagePosted(session_id=session, message_id=uuid.uuid4(), role=role, text=TEXT)


def backlog(codec: EventCodec, events: int, streams: int) -> list[tuple[Any, ...]]:
    """`events` encoded rows over `streams` sessions, version-major so each stream's versions rise with position."""
    sessions = [uuid.uuid4() for _ in range(streams)]
    start = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    rows = []
    for i in range(events):
        session, version = sessions[i % streams], i // streams + 1
        meta = EventMetadata(
            event_id=uuid.uuid4(),
            stream_id=str(session),
            stream_type="session",
            stream_version=version,
            tenant_id=TENANT,
            occurred_at=start + timedelta(milliseconds=i),
            correlation_id=uuid.uuid4(),
        )
        encoded = codec.encode(RecordedEvent(meta=meta, event=session_event(session, version)))
        rows.append(
            (
                meta.stream_id,
                meta.stream_type,
                version,
                encoded.event_type,
                meta.event_id,
                encoded.schema_id,
                encoded.topic,
                encoded.value,
                TENANT,
                meta.correlation_id,
                None,
                meta.occurred_at,
            )
        )
    return rows


async def prefill(pool: asyncpg.Pool, rows: list[tuple[Any, ...]]) -> int:
    """COPY the rows into `events` in transactions of PREFILL_TRANSACTION rows; returns the last position."""
    async with pool.acquire() as conn:
        for i in range(0, len(rows), PREFILL_TRANSACTION):
            await conn.copy_records_to_table("events", records=rows[i : i + PREFILL_TRANSACTION], columns=COLUMNS)
        return int(await conn.fetchval("SELECT max(position) FROM events"))


async def with_relay(relay: Relay, until: Callable[[], Awaitable[None]]) -> None:
    """Run the relay while `until` runs, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await until()
    finally:
        stop.set()
        await task


async def drain(pool: asyncpg.Pool, bootstrap: str, total: int, last: int) -> float:
    """Seconds a fresh relay takes until its checkpoint is the last of the `total` events."""
    relay = Relay(pool, bootstrap, name=f"bench-{uuid.uuid4().hex[:8]}")
    relay.producer.list_topics(timeout=10)  # connected before the clock starts

    async def caught_up() -> None:
        while relay.published < total:
            await asyncio.sleep(0.005)

    began = time.perf_counter()
    await with_relay(relay, caught_up)
    took = time.perf_counter() - began
    checkpoint = await relay.checkpoint()
    assert checkpoint.position == last, f"relay stopped at {checkpoint.position}, not at {last}"
    return took


class Watcher:
    """A consumer thread reading every partition of `topics` from now on, noting when each event id arrives."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        metadata = self.consumer.list_topics(timeout=10).topics
        partitions = [TopicPartition(t, p) for t in topics if t in metadata for p in metadata[t].partitions]
        # the current end as a number: OFFSET_END would be resolved only at the first fetch, missing earlier records
        for tp in partitions:
            tp.offset = self.consumer.get_watermark_offsets(tp, timeout=10)[1]
        self.consumer.assign(partitions)
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-consumer", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.05)  # not consume(n, t): that waits out t unless n records arrive
            now = time.perf_counter()
            if message is not None and message.error() is None:
                event_id = dict(message.headers() or []).get("event_id")
                if isinstance(event_id, bytes):
                    self.seen.setdefault(event_id.decode(), now)

    async def wait_for(self, event_ids: set[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not event_ids <= self.seen.keys():
            if time.monotonic() > deadline:
                missing = len(event_ids - self.seen.keys())
                raise TimeoutError(f"{missing} of {len(event_ids)} events never reached Kafka")
            await asyncio.sleep(0.01)


async def steady_appends(store: PostgresEventStore, rate: int, seconds: float) -> dict[str, float]:
    """Append `rate` events/s for `seconds` through the store; event id -> perf_counter just before append.

    Each append is its own task started on schedule, one new event per stream per second (`rate`
    streams, started by the first second's appends), so appends never wait on one another.
    """
    streams = [uuid.uuid4() for _ in range(rate)]
    sent: dict[str, float] = {}

    async def append(i: int) -> None:
        session, version = streams[i % rate], i // rate
        context = CommandContext(tenant_id=TENANT, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))
        before = time.perf_counter()
        result = await store.append(str(session), "session", version, [session_event(session, version + 1)], context)
        sent[str(result.event_ids[0])] = before

    tasks = []
    began = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(append(i)))
    await asyncio.gather(*tasks)
    return sent


async def latency(
    pool: asyncpg.Pool, store: PostgresEventStore, bootstrap: str, topics: list[str], rate: int, seconds: float
) -> tuple[list[float], float]:
    """Append -> consumed latencies (ms) of a steady stream of appends with a relay running; and the rate achieved."""
    relay = Relay(pool, bootstrap, name="bench-latency", poll_interval=0.5)
    await pool.execute(  # start from the end of the backlog
        "INSERT INTO relay_checkpoints (relay, txid, position) "
        "SELECT $1, txid, position FROM events ORDER BY txid DESC, position DESC LIMIT 1",
        relay.name,
    )
    with Watcher(bootstrap, topics) as watcher:
        result: dict[str, float] = {}

        async def measured() -> None:
            warm = await steady_appends(store, 50, 1.0)  # connections, producer and consumer warmed, not counted
            await watcher.wait_for(set(warm))
            began = time.perf_counter()
            result.update(await steady_appends(store, rate, seconds))
            result["__took"] = time.perf_counter() - began
            await watcher.wait_for(set(result) - {"__took"})

        await with_relay(relay, measured)
        took = result.pop("__took")
        return [1000 * (watcher.seen[i] - sent) for i, sent in result.items()], len(result) / took


async def run(events: int, streams: int, rounds: int, rate: int, seconds: float, partitions: int) -> list[Result]:
    servers = endpoints()
    codec = ready_codec(servers.schema_registry_url)
    topics = codec.routing.topics()
    ensure_topics(servers.kafka_bootstrap_servers, topics, partitions)
    fresh_schema(servers.postgres_dsn, SCHEMA)
    pool = await asyncpg.create_pool(
        servers.postgres_dsn, min_size=1, max_size=3, server_settings={"search_path": SCHEMA}
    )
    store = await PostgresEventStore.connect(servers.postgres_dsn, codec, schema=SCHEMA, pool_size=16)
    try:
        with out.status(f"encoding and copying {events:,} events into {SCHEMA}"):
            last = await prefill(pool, backlog(codec, events, streams))
        rates = []
        for round_ in range(rounds):
            took = await drain(pool, servers.kafka_bootstrap_servers, events, last)
            rates.append(events / took)
            out.print(f"[dim]· round {round_ + 1}: {events:,} events in {took:.2f} s, {rates[-1]:,.0f}/s[/dim]")
        lags, achieved = await latency(pool, store, servers.kafka_bootstrap_servers, topics, rate, seconds)
    finally:
        await store.close()
        await pool.close()
    percentiles = statistics.quantiles(lags, n=100, method="inclusive")
    steady = {
        "rate": rate,
        "seconds": seconds,
        "events": len(lags),
        "achieved_rate": round(achieved),
        "poll_interval": 0.5,
    }
    return [
        Result(
            "relay backlog",
            median(rates),
            "events/s",
            True,
            params={
                "events": events,
                "streams": streams,
                "rounds": rounds,
                "partitions": partitions,
                "batch_size": 5000,
            },
        ),
        Result("append -> consumed p50", percentiles[49], "ms", False, params=steady),
        Result("append -> consumed p99", percentiles[98], "ms", False, params=steady),
        Result("append -> consumed max", max(lags), "ms", False, params=steady),
    ]


def main(
    events: Annotated[int, typer.Option(help="events in the backlog the relay drains")] = 100_000,
    streams: Annotated[int, typer.Option(help="sessions the backlog is spread over")] = 1000,
    rounds: Annotated[int, typer.Option(help="backlog drains, each with a fresh checkpoint; median reported")] = 3,
    rate: Annotated[int, typer.Option(help="appends per second in the latency run")] = 500,
    seconds: Annotated[float, typer.Option(help="length of the latency run")] = 10.0,
    partitions: Annotated[int, typer.Option(help="partitions of topics created here")] = 3,
) -> None:
    """Relay throughput (a backlog, Postgres -> Kafka) and append -> consumed latency at a steady rate."""
    write_results("relay", asyncio.run(run(events, streams, rounds, rate, seconds, partitions)))


if __name__ == "__main__":
    typer.run(main)
