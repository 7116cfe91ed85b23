"""Rebuild a view without downtime: fill a fresh key version from the beginning, then switch readers.

1. Take the view's rebuild lock; the new key version is the current one plus one.
2. Source `kafka`: read every partition of the view's topics from the beginning. Source `store`:
   note Kafka's end offsets first, fold the whole event store (by position), then read Kafka from
   the noted offsets: every event before them was committed to the store before the store was
   read, every event after is read from Kafka, and the bitmaps drop what both sources carried.
3. Once Kafka is read up to (nearly) its moving end, point readers at the new version in one SET. Live
   runners see the switch within a tick and continue in the new version from its offsets.
4. After the live runners moved, delete the old version's keys (unless asked to keep them).

The live view serves readers throughout; live updates (SSE streams) are never resent.

`refeed` shares the store reading: it applies a range of positions to the view's current version,
exactly once (what the view holds already is dropped by the same bitmaps).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from confluent_kafka import Consumer, TopicPartition

from contracts.codec import EventCodec
from projections.apply import Applier
from projections.pipeline import FROM_STORE, DeadLetterSink, Incoming, Projector, fetch
from projections.runner import TICK, current_version
from projections.views import Keys, View

Progress = Callable[[int, int], None]  # (events done, events in all so far)
LOCK_SECONDS = 60
# Close enough to Kafka's end to switch: while writes go on, the end moves and "0 left" may never
# be seen; the live runner applies the rest from the new version's offsets right after the switch.
CAUGHT_UP = 500


class RebuildInProgress(Exception):
    """Another rebuild of the view holds its lock; wait for it or delete the lock key if it died."""

    def __init__(self, view: str, lock_key: str) -> None:
        super().__init__(f"a rebuild of {view!r} is already running (lock {lock_key!r})")
        self.view = view


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the versions, how many events it read and how fast."""

    view: str
    old_version: int
    new_version: int
    events: int
    seconds: float
    dropped_old: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class StoreSource:
    """The event store to rebuild from: a Postgres DSN and the schema holding `events`."""

    dsn: str
    schema: str = "public"


class Rebuild:
    """One rebuild of one view (see the module docstring for the steps)."""

    def __init__(
        self,
        view: View,
        codec: EventCodec,
        client: aioredis.Redis,
        bootstrap_servers: str,
        dead_letters: DeadLetterSink,
        *,
        prefix: str = "",
        store: StoreSource | None = None,
        keep_old: bool = False,
        batch: int = 5000,
        progress: Progress = lambda _done, _total: None,
    ) -> None:
        self.view = view
        self.codec = codec
        self.client = client
        self.bootstrap_servers = bootstrap_servers
        self.dead_letters = dead_letters
        self.keys = Keys(prefix, view.name)
        self.store = store
        self.keep_old = keep_old
        self.batch = batch
        self.progress = progress
        self.done = self.total = 0
        self._lock = uuid.uuid4().hex

    async def run(self) -> Rebuilt:
        lock = self.keys.shared("rebuilding")
        if not await self.client.set(lock, self._lock, nx=True, ex=LOCK_SECONDS):
            raise RebuildInProgress(self.view.name, lock)
        began = time.monotonic()
        # short broker-side fetch waits: end-offset requests queue behind a waiting fetch
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap_servers, "group.id": "agentlog-rebuild", "fetch.wait.max.ms": 20}
        )
        try:
            old = await current_version(self.client, self.keys)
            target = self.keys.at(old + 1)
            await drop_version(self.client, target)  # leftovers of an interrupted rebuild
            projector = Projector(self.view, self.codec, Applier(self.client), target, self.dead_letters, live=False)
            partitions = await asyncio.to_thread(self._partitions, consumer, self.store is not None)
            if self.store is not None:
                await self._from_store(projector, self.store)
            await self._from_kafka(consumer, projector, partitions)
            await self.client.set(self.keys.shared("current"), target.version)
            if not self.keep_old:
                await self._wait_for_runners(target.version)
                await drop_version(self.client, self.keys.at(old))
            return Rebuilt(self.view.name, old, target.version, self.done, time.monotonic() - began, not self.keep_old)
        finally:
            await asyncio.to_thread(consumer.close)
            if await self.client.get(lock) == self._lock.encode():
                await self.client.delete(lock)

    def _partitions(self, consumer: Consumer, at_end: bool) -> list[TopicPartition]:
        """Every partition of the view's topics, at its end offset (`at_end`) or its first one."""
        topics = [self.codec.routing.prefix + topic for topic in self.view.topics]
        metadata = consumer.list_topics(timeout=10).topics
        found = [TopicPartition(t, p) for t in topics if t in metadata for p in metadata[t].partitions]
        for tp in found:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            tp.offset = high if at_end else low
        return found

    async def _advance(self, projector: Projector, batch: list[Incoming]) -> None:
        await projector.feed(batch)  # its last chunk runs in Redis while the next batch is read
        self.done += len(batch)
        self.progress(self.done, max(self.total, self.done))
        await self.client.set(self.keys.shared("rebuilding"), self._lock, xx=True, ex=LOCK_SECONDS)

    async def _from_store(self, projector: Projector, store: StoreSource) -> None:
        topics = [self.codec.routing.prefix + topic for topic in self.view.topics]

        def counted(total: int) -> None:
            self.total += total

        await from_store(store, topics, 0, None, self.batch, counted, lambda batch: self._advance(projector, batch))
        await projector.settle()

    async def _from_kafka(self, consumer: Consumer, projector: Projector, partitions: list[TopicPartition]) -> None:
        """Read from `partitions` (at their start offsets) in passes: each pass reads up to the end offsets
        seen when it began. While writes go on the end keeps moving, but each pass is shorter than the one
        before; once a pass had at most CAUGHT_UP events, the live runner can take over from there."""
        if not partitions:
            return
        consumer.assign(partitions)
        reached = {(tp.topic, tp.partition): tp.offset for tp in partitions}
        while True:
            ends = await asyncio.to_thread(self._ends, consumer, partitions)
            tail = sum(max(end - reached[key], 0) for key, end in ends.items())
            self.total = self.done + tail
            while any(reached[key] < end for key, end in ends.items()):
                batch = await asyncio.to_thread(fetch, consumer, self.batch)
                for item in batch:
                    reached[(item.topic, item.partition)] = item.offset + 1
                await self._advance(projector, batch)
            if tail <= CAUGHT_UP:
                await projector.settle()
                return

    @staticmethod
    def _ends(consumer: Consumer, partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
        """Each partition's end offset, asked of the broker."""
        return {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}

    async def _wait_for_runners(self, version: int, timeout: float = 30.0) -> None:
        """Until every live runner of the view writes `version` (they check every TICK), then a tick more
        for readers that resolved the old version just before the switch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runners = [json.loads(v) for v in (await self.client.hgetall(self.keys.shared("runners"))).values()]
            alive = [r for r in runners if r["at"] > time.time() - 10 * TICK]
            if all(r["version"] == version for r in alive):
                break
            await asyncio.sleep(TICK / 2)
        await asyncio.sleep(2 * TICK)


async def from_store(
    store: StoreSource,
    topics: list[str],
    after: int,
    upto: int | None,
    batch: int,
    counted: Callable[[int], None],
    advance: Callable[[list[Incoming]], Awaitable[None]],
) -> None:
    """The store's events of `topics` with a position in (after, upto] (no upper bound: None), in position
    order, `batch` at a time to `advance`; `counted` is told first how many there are."""
    conn = await asyncpg.connect(store.dsn, server_settings={"search_path": store.schema})
    top = upto if upto is not None else 2**63 - 1
    try:
        counted(await conn.fetchval("SELECT count(*) FROM events WHERE topic = ANY($1) AND position > $2 "
                                    "AND position <= $3", topics, after, top))  # fmt: skip
        while rows := await conn.fetch(
            "SELECT position, topic, stream_id, payload, recorded_at FROM events "
            "WHERE topic = ANY($1) AND position > $2 AND position <= $3 ORDER BY position LIMIT $4",
            topics,
            after,
            top,
            batch,
        ):
            after = rows[-1]["position"]
            await advance([_from_row(row) for row in rows])
    finally:
        await conn.close()


@dataclass(frozen=True)
class Refed:
    """What a re-feed did: events read from the store, applied to the view, and already there."""

    view: str
    version: int
    events: int
    applied: int
    duplicates: int
    seconds: float


async def refeed(
    view: View,
    codec: EventCodec,
    client: aioredis.Redis,
    dead_letters: DeadLetterSink,
    store: StoreSource,
    *,
    after: int,
    upto: int | None,
    prefix: str = "",
    batch: int = 5000,
    progress: Progress = lambda _done, _total: None,
) -> Refed:
    """Apply the store's events of the view's topics with a position in (after, upto] to the view's current
    key version, as a rebuild from the store does: exactly once (what the view holds already is dropped), no
    live updates sent. Refused (RebuildInProgress) while the view is being rebuilt."""
    keys = Keys(prefix, view.name)
    if await client.exists(keys.shared("rebuilding")):
        raise RebuildInProgress(view.name, keys.shared("rebuilding"))
    began, version = time.monotonic(), await current_version(client, keys)
    projector = Projector(view, codec, Applier(client), keys.at(version), dead_letters, live=False)
    seen = {"done": 0, "total": 0}

    def counted(total: int) -> None:
        seen["total"] = total

    async def advance(batch_: list[Incoming]) -> None:
        await projector.feed(batch_)
        seen["done"] += len(batch_)
        progress(seen["done"], seen["total"])

    topics = [codec.routing.prefix + topic for topic in view.topics]
    await from_store(store, topics, after, upto, batch, counted, advance)
    await projector.settle()
    return Refed(view.name, version, seen["done"], projector.applied, projector.duplicates, time.monotonic() - began)


def _from_row(row: asyncpg.Record) -> Incoming:
    return Incoming(
        value=row["payload"],
        key=row["stream_id"].encode(),
        topic=row["topic"],
        partition=FROM_STORE,
        offset=-1,
        position=row["position"],
        timestamp_ms=int(row["recorded_at"].timestamp() * 1000),
    )


async def drop_version(client: aioredis.Redis, keys: Keys) -> int:
    """Delete every key of one key version of a view; returns how many."""
    dropped = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=keys("*"), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            dropped += await client.unlink(*batch)
            batch.clear()
    if batch:
        dropped += await client.unlink(*batch)
    return dropped
