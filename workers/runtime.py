"""Event-driven workers: each consumes its topics in a consumer group of its own and hands every event to
a handler, committing a Kafka offset only once every record before it was handled.

Exactly one effect per event. Delivery is at least once (a worker killed mid-batch reads the batch
again), so handlers make their effects idempotent: every command they send carries an
idempotency key derived from the causing event (`key_for`), and the event store records it once.

Order. Events of one stream (one Kafka key, one partition) are handled one after another, in
order; events of different streams are handled concurrently, at most `concurrency` at once, while
further records are read (a stream waiting on a tool holds up only itself). Offsets are committed
per partition up to the oldest record still being handled.

Failures, sorted once: a dependency that is down (Unavailable, a driver outage), or a command that
lost a race on a busy stream more often than its own retries allow, is retried with backoff for as
long as it takes and never skipped; a domain error (a command the aggregate
refuses, e.g. a closed session) is the event's outcome, logged and counted; anything else is a bug:
retried `attempts` times, then logged with its traceback, counted and skipped, so one bad event
cannot stop a worker for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import stamina
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from opentelemetry import context as otel_context
from prometheus_client import Counter, Histogram

from contracts.codec import EventCodec
from contracts.errors import ContractError, RegistryUnavailable
from domain.errors import ConcurrencyConflict, DomainError, Unavailable
from domain.events import RecordedEvent
from eventstore.errors import POSTGRES_OUTAGES
from observability import tracing
from projections.pipeline import poll_batch

log = logging.getLogger("agentlog.workers")
EVENTS = Counter("agentlog_worker_events", "Events handled by workers, by outcome", ["worker", "outcome"])
DURATION = Histogram(
    "agentlog_worker_event_duration_seconds",
    "Time a worker took to handle an event, outages waited out and retries included",
    ["worker"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTAGES = (Unavailable, RegistryUnavailable, KafkaException, *POSTGRES_OUTAGES)
# Offsets are committed at most this often while running (and at stop): each commit is a round trip to the
# broker and a write there, and what a restarted worker reads again since the last commit records nothing twice.
COMMIT_EVERY = 0.5
# waited out like an outage: another writer went first on a busy stream (a persona's budget of the day)
TRANSIENT = (*OUTAGES, ConcurrencyConflict)


@dataclass(frozen=True)
class Delivered:
    """One event as a worker receives it: decoded, with the store position the relay stamped on it and the trace
    context its handling continues (the relay's publish span from the record's headers, else the event's own)."""

    recorded: RecordedEvent
    position: int
    topic: str
    traceparent: str | None = None

    @property
    def trace_parent(self) -> otel_context.Context | None:
        """The OpenTelemetry context a handler's span goes under (None: no trace to continue)."""
        return tracing.context_of(self.traceparent)


Handler = Callable[[Delivered], Awaitable[None]]


def key_for(cause: RecordedEvent | uuid.UUID, step: str) -> str:
    """The idempotency key of the command a worker sends as `step` of handling `cause` (an event or its id):
    the same on every redelivery, different for every step."""
    event_id = cause.meta.event_id if isinstance(cause, RecordedEvent) else cause
    return f"worker:{event_id}:{step}"


def id_for(cause: RecordedEvent | uuid.UUID, step: str) -> uuid.UUID:
    """A new aggregate's id for `step` of handling `cause`, the same on every redelivery."""
    return uuid.uuid5(uuid.NAMESPACE_URL, key_for(cause, step))


class Worker:
    """Runs `handle` for every event on `topics` (names before the prefix) until stopped."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        codec: EventCodec,
        bootstrap_servers: str,
        handle: Handler,
        *,
        batch: int = 100,
        concurrency: int = 16,
        attempts: int = 5,
    ) -> None:
        self.name = name
        self.topics = [codec.routing.prefix + topic for topic in topics]
        self.codec = codec
        self.handle = handle
        self.batch = batch
        self.attempts = attempts
        self.handled = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._tails: dict[bytes, asyncio.Task[None]] = {}  # each stream's last record in flight
        self._inflight: dict[tuple[str, int], set[int]] = defaultdict(set)  # offsets per topic partition
        self._read: dict[tuple[str, int], int] = {}  # the next offset to read per topic partition
        self._committed: dict[tuple[str, int], int] = {}
        self._next_commit = 0.0
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": codec.routing.worker_group(name),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,  # a killed worker's partitions move on within seconds
                "heartbeat.interval.ms": 1500,
                # reading goes on while records are handled, but a handler may wait long (a tool awaiting
                # approval): the group must not drop a worker that is busy rather than gone
                "max.poll.interval.ms": 3_600_000,
            }
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, handle and commit until `stop` is set; outages are waited out (see the module docstring).

        Pipelined: the next records are read while earlier ones are handled (a message waiting for a
        tool holds up only its own stream), at most `batch` * 4 in flight; each partition's offset is
        committed up to its oldest record still in flight, every COMMIT_EVERY seconds.
        """
        self.consumer.subscribe(self.topics)
        try:
            while not stop.is_set():
                if self._inflight_count() >= self.batch * 4:
                    await asyncio.wait(self._tails.values(), timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                else:
                    for message in await asyncio.to_thread(poll_batch, self.consumer, self.batch, 0.2):
                        self._start(message)
                if time.monotonic() >= self._next_commit:
                    await self._commit()
                    self._next_commit = time.monotonic() + COMMIT_EVERY
            await asyncio.gather(*self._tails.values())
            await self._commit()
        finally:
            await asyncio.to_thread(self.consumer.close)

    def _start(self, message: Message) -> None:
        """Handle `message` after the records of its stream read before it (its Kafka key)."""
        place = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        self._inflight[place].add(offset)
        self._read[place] = offset + 1
        key = message.key() or b""
        task = asyncio.create_task(self._after(self._tails.get(key), message, place, offset))
        self._tails[key] = task
        task.add_done_callback(lambda done: self._tails.pop(key, None) if self._tails.get(key) is done else None)

    async def _after(
        self, earlier: asyncio.Task[None] | None, message: Message, place: tuple[str, int], offset: int
    ) -> None:
        if earlier is not None:
            await asyncio.wait([earlier])
        try:
            async with self._slots:
                await self._handle_one(message)
        finally:
            self._inflight[place].discard(offset)

    def _inflight_count(self) -> int:
        return sum(map(len, self._inflight.values()))

    async def _commit(self) -> None:
        """Commit each partition up to its oldest record in flight. A failed commit is not retried: the
        records after the last commit are read again (by this worker or, after a rebalance, another),
        and handling them again records nothing twice."""
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}  # after a rebalance: only ours
        offsets = [
            TopicPartition(topic, partition, min(self._inflight[(topic, partition)], default=read))
            for (topic, partition), read in self._read.items()
            if (topic, partition) in owned
        ]
        fresh = [tp for tp in offsets if self._committed.get((tp.topic, tp.partition)) != tp.offset]
        if not fresh:
            return
        try:
            await asyncio.to_thread(self.consumer.commit, offsets=fresh, asynchronous=False)
        except KafkaException as e:
            log.warning("%s: commit failed, the records since are read again: %s", self.name, e)
            return
        for tp in fresh:
            self._committed[(tp.topic, tp.partition)] = tp.offset

    async def _handle_one(self, message: Message) -> None:
        try:
            delivered = await self._decode(message)
        except ContractError as e:  # not an outage (those are retried in _decode): bytes no schema reads
            log.error("%s: skipped an undecodable record at %s[%s]@%s: %s", self.name, *_where(message), e)
            EVENTS.labels(self.name, "undecodable").inc()
            return
        outcome = "handled"
        failures = 0
        began = time.perf_counter()
        async for attempt in stamina.retry_context(on=_outage, attempts=None, timeout=None, wait_max=5.0):
            with attempt:
                try:
                    await self.handle(delivered)
                except ConcurrencyConflict:
                    raise
                except DomainError as e:
                    outcome = "refused"
                    log.info("%s: %s refused: %s", self.name, delivered.recorded.event.type_name(), e)
                except Exception as e:
                    if _outage(e):
                        raise
                    failures += 1
                    if failures < self.attempts:
                        raise _Retry from e
                    outcome = "failed"
                    log.exception("%s: gave up on event %s", self.name, delivered.recorded.meta.event_id)
        EVENTS.labels(self.name, outcome).inc()
        DURATION.labels(self.name).observe(time.perf_counter() - began)
        self.handled += 1

    async def _decode(self, message: Message) -> Delivered:
        value = message.value() or b""
        async for attempt in stamina.retry_context(on=_outage, attempts=None, timeout=None, wait_max=5.0):
            with attempt:
                recorded = self.codec.decode(value)
        headers = dict(message.headers() or [])
        position = int(headers.get("position", b"0") or 0)
        own = recorded.meta.trace.traceparent if recorded.meta.trace else None
        return Delivered(recorded, position, message.topic() or "", tracing.header(message.headers()) or own)


class _Retry(Exception):
    """A failure that is not an outage, tried again a few times before the event is given up."""


def _outage(e: Exception) -> bool:
    return isinstance(e, (*TRANSIENT, _Retry))


def _where(message: Message) -> tuple[str | None, int | None, int | None]:
    return message.topic(), message.partition(), message.offset()
