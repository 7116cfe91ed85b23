"""Decode, fold and apply: the steps every event takes into a view, whatever its source.

A poison event (one that does not decode, or whose fold or Redis change fails) is retried a few
times with backoff and then sent to the view's dead-letter topic with the error in its headers;
its offset is then recorded as done, so one bad event never stops the view. Failures of the
servers themselves (Redis or the registry unreachable) are not poison: they propagate, and the
caller re-reads from the view's stored offsets, which is safe because applying is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple, Protocol, cast

from confluent_kafka import Consumer, Message

from contracts.codec import EventCodec
from contracts.errors import ContractError, RegistryUnavailable
from observability import tracing
from projections.apply import Applied, Applier, Delivery, Op
from projections.views import Keys, View

log = logging.getLogger("agentlog.projections")

FROM_STORE = -1  # the partition of an event read from the event store, not from Kafka
CHUNK = 500  # events per script call: small enough to overlap Redis with Python, large enough to amortise
DEPTH = 2  # chunks in flight: Redis finds the next one queued when it finishes one
STEP = 50  # events prepared between two turns of the event loop (which streams the chunk in flight)


class Incoming(NamedTuple):
    """An event as read from Kafka (or from the event store, with partition FROM_STORE)."""

    value: bytes
    key: bytes
    topic: str
    partition: int
    offset: int
    position: int
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_message(cls, m: Message) -> Incoming:
        headers = tuple(cast(list[tuple[str, bytes]], m.headers() or []))  # the relay sends bytes values
        position = next((value for name, value in headers if name == "position"), None)
        return cls(
            value=m.value() or b"",
            key=m.key() or b"",
            topic=m.topic() or "",
            partition=m.partition() or 0,
            offset=m.offset() or 0,
            position=int(position) if position else 0,
            timestamp_ms=m.timestamp()[1],
            headers=headers,
        )

    @property
    def source(self) -> str:
        if self.partition == FROM_STORE:
            return f"store@{self.position}"
        return f"{self.topic}:{self.partition}@{self.offset}"


def headers_of(m: Message) -> tuple[tuple[str, bytes], ...]:
    """A record's headers as (name, bytes) pairs."""
    pairs = cast(list[tuple[str, bytes | str | None]], m.headers() or [])
    return tuple((name, value.encode() if isinstance(value, str) else value or b"") for name, value in pairs)


def poll_batch(consumer: Consumer, batch: int, wait: float = 0.1) -> list[Message]:
    """Up to `batch` records the consumer has buffered, else what arrives within `wait` s, errors
    logged and left out. Never a wait for a full batch: `consume(n, t)` waits out `t` unless `n`
    records arrive, which would hold every record of a quiet topic back by up to `t`."""
    messages = consumer.consume(batch, 0)
    if not messages:
        first = consumer.poll(wait)
        messages = [first, *consumer.consume(batch - 1, 0)] if first is not None else []
    for m in messages:
        if m.error():
            log.warning("consumer error on %s: %s", m.topic(), m.error())
    return [m for m in messages if not m.error()]


def fetch(consumer: Consumer, batch: int, wait: float = 0.1) -> list[Incoming]:
    """`poll_batch`, as the pipeline's items."""
    return [Incoming.from_message(m) for m in poll_batch(consumer, batch, wait)]


class DeadLetterSink(Protocol):
    """Where a view's poison events are kept (implemented by `projections.deadletter.DeadLetters`)."""

    async def send(self, item: Incoming, view: str, error: str, attempts: int) -> None:
        """Keep the event with its error; return only once it is durably kept (the caller then moves past
        it), else raise."""
        ...


class Poison(Exception):
    """An event that cannot be applied to the view (the reason is the message)."""


class Projector:
    """Folds batches of events into one view at one key version, exactly once, poison set aside."""

    def __init__(
        self,
        view: View,
        codec: EventCodec,
        applier: Applier,
        keys: Keys,
        dead_letters: DeadLetterSink,
        *,
        live: bool = True,
        offsets: bool = True,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.view = view
        self.codec = codec
        self.applier = applier
        self.keys = keys
        self.dead_letters = dead_letters
        self.live = live
        self.offsets = offsets  # False: replayed events, whose offsets the view is already past
        self.retries = retries
        self.backoff = backoff
        self.applied = self.duplicates = self.dead_lettered = 0
        self.position = 0  # the highest event-store position processed
        self._inflight: deque[tuple[Sequence[Incoming], str]] = deque()  # chunks sent, and their poison
        self._run = uuid.uuid4().hex  # a chunk that fails halts the run: those sent behind it do nothing

    @property
    def hashes(self) -> tuple[str, str, str]:
        return self.keys("offsets"), self.keys("positions"), self.keys("state")

    async def project(self, batch: Sequence[Incoming]) -> None:
        """Apply the batch in order; returns once every event is applied, a duplicate, or dead-lettered."""
        await self.feed(batch)
        await self.settle()

    async def feed(self, batch: Sequence[Incoming]) -> None:
        """Apply the batch in order, behind what is still in flight; on return its last chunks may still
        be in flight (`settle` waits for them). A server error raised here may belong to an earlier chunk:
        the caller must then re-read from the view's stored offsets (what was in flight is forgotten).

        Chunks are pipelined, DEPTH of them in flight: while Redis runs the script for one chunk, with
        the next queued behind it, the one after is decoded and folded, so the two cores work at once,
        across batches too. From a chunk's first poison event on, that chunk and those sent behind it go
        through `_careful`, one step at a time; nothing is sent past an event that failed to decode.
        """
        async with self._forgetting_on_error():
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                deliveries, problem = await self._prepare(chunk)
                while len(self._inflight) >= DEPTH:
                    await self._settle_one()
                self.applier.send(self.hashes, deliveries, self._run)
                self._inflight.append((chunk, problem))
                if problem:
                    await self._settle_all()
                await asyncio.sleep(0)  # let the script go out before the caller's CPU work

    async def settle(self) -> None:
        """Wait for the chunks in flight, if any, and set aside their poison events."""
        async with self._forgetting_on_error():
            await self._settle_all()

    @contextlib.asynccontextmanager
    async def _forgetting_on_error(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self._inflight.clear()
            await self.applier.reset()
            raise

    async def _settle_all(self) -> None:
        while self._inflight:
            await self._settle_one()

    async def _settle_one(self) -> None:
        chunk, problem = self._inflight.popleft()
        result = self._tally(chunk, await self.applier.receive())
        if not (result.error or problem):
            return
        # the chunks sent behind this one did nothing (the script halted the run): read their replies,
        # then, in a new run, set this chunk's poison aside and apply them
        behind = [(later, self._tally(later, await self.applier.receive())) for later, _ in self._inflight]
        self._inflight.clear()
        self._run = uuid.uuid4().hex
        for items, done in [(chunk, result), *behind]:
            await self._careful(items[done.done :])

    def _tally(self, chunk: Sequence[Incoming], result: Applied) -> Applied:
        self._count(result.applied, result.done - result.applied)
        self.position = max(self.position, *(item.position for item in chunk))
        return result

    async def _prepare(self, items: Sequence[Incoming]) -> tuple[list[Delivery], str]:
        """Deliveries up to the first poison event, and its reason ("" when there is none).

        It yields to the event loop every few events: a chunk's payload is larger than what the
        socket takes at once while Redis is busy, and asyncio sends the rest only when the loop runs.
        """
        deliveries: list[Delivery] = []
        for n, item in enumerate(items, 1):
            try:
                deliveries.append(self.delivery(item))
            except Poison as e:
                return deliveries, str(e)
            if n % STEP == 0:
                await asyncio.sleep(0)
        return deliveries, ""

    async def _careful(self, items: Sequence[Incoming]) -> None:
        """Apply from a poison event on: set each poison event aside, apply what lies between."""
        start = 0
        while start < len(items):
            deliveries, problem = await self._prepare(items[start:])
            result = await self.applier.apply(self.hashes, deliveries)
            self._count(result.applied, result.done - result.applied)
            start += result.done
            if result.error or problem:
                await self._set_aside(items[start], result.error or problem)
                start += 1

    def delivery(self, item: Incoming) -> Delivery:
        """What the event changes in the view; Poison when it does not decode or the fold fails."""
        try:
            name, record = self.codec.read(item.value)
        except RegistryUnavailable:
            raise
        except ContractError as e:
            raise Poison(f"{type(e).__name__}: {e}") from e
        ops: list[Op] = []
        meta = record["meta"]
        try:
            with self._span(item, name, meta):
                if fold := self.view.folds.get(name):
                    ops = fold(record, self.keys)
                if self.live and (live := self.view.live.get(name)):
                    ops += live(record, self.keys)
        except Exception as e:  # a fold that breaks on one event must not stop the view
            raise Poison(f"{type(e).__name__} in the {self.view.name} fold: {e}") from e
        stream = meta["stream_id"]
        return Delivery(
            self.keys("applied", stream),
            meta["stream_version"],
            stream,
            item.position,
            self._partition(item),
            item.offset + 1,
            meta["occurred_at"],
            ops,
        )

    def _span(self, item: Incoming, name: str, meta: dict[str, Any]) -> contextlib.AbstractContextManager[object]:
        """The event's `projection.apply <view>` span (its fold; the Redis step is shared by a chunk), a child of
        the relay's publish span (the record's traceparent header) or of the event's own trace context."""
        own = (meta.get("trace") or {}).get("traceparent")
        parent = tracing.parent_of(item.headers, own) if tracing.active() else None
        if parent is None:
            return contextlib.nullcontext()
        attributes = {
            "messaging.system": "kafka" if item.partition != FROM_STORE else None,
            "messaging.operation.type": "process",
            "messaging.destination.name": item.topic or None,
            "agentlog.tenant": meta.get("tenant_id"),
            "agentlog.stream_id": meta.get("stream_id"),
            "agentlog.event_type": name,
            "agentlog.position": item.position,
            "agentlog.view": self.view.name,
        }
        return tracing.span(f"projection.apply {self.view.name}", parent, tracing.SpanKind.CONSUMER, attributes)

    def _partition(self, item: Incoming) -> str:
        return f"{item.topic}:{item.partition}" if self.offsets and item.partition != FROM_STORE else ""

    async def _set_aside(self, item: Incoming, error: str) -> None:
        """Retry a poison event with backoff; if it still fails, dead-letter it and move past it."""
        for attempt in range(1, self.retries + 1):
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                result = await self.applier.apply(self.hashes, [self.delivery(item)])
            except Poison as e:
                error = str(e)
                continue
            if not result.error:
                self._count(result.applied, 1 - result.applied)
                return
            error = result.error
        log.error("%s: dead-lettering %s after %d attempt(s): %s", self.view.name, item.source, self.retries + 1, error)
        await self.dead_letters.send(item, self.view.name, error, self.retries + 1)
        skip = Delivery("", 0, "", 0, self._partition(item), item.offset + 1, 0, ())
        await self.applier.apply(self.hashes, [skip])
        self.dead_lettered += 1

    def _count(self, applied: int, duplicates: int) -> None:
        self.applied += applied
        self.duplicates += duplicates
