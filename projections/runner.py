"""Runs one view live: its own Kafka consumer group folding every event exactly once into Redis.

Offsets live in Redis next to the view (written by the same atomic step as each change), so a
restarted runner resumes exactly where the view is; Kafka's group offsets are never committed. The
view's runners in several processes share its partitions (projections/handover.py). The runner
follows the view's version pointer: when a rebuild switches readers to a new key version, the
runner seeks to the offsets the rebuild recorded there and carries on in the new version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
import stamina
from confluent_kafka import Consumer, KafkaException

from contracts.codec import EventCodec
from contracts.errors import RegistryUnavailable
from observability import redisconn
from projections import metrics
from projections.apply import Applier
from projections.handover import Handover, at_stored_offsets, owned
from projections.pipeline import DeadLetterSink, Projector, fetch
from projections.views import Keys, View

log = logging.getLogger("agentlog.projections")

TICK = 0.5  # seconds between version checks, heartbeats and metric updates
# How long a fetch waits when nothing is buffered: a record ends the wait at once, so this only spaces out the
# loop of an idle view (stop and the tick are looked at between fetches). At 0.1 s an idle process of seven
# views took 7% of a core; at a tick, 3%.
IDLE_WAIT = TICK
INFRA_ERRORS = (redis.RedisError, httpx.HTTPError, RegistryUnavailable, KafkaException, OSError)


async def current_version(client: aioredis.Redis, keys: Keys) -> int:
    """The key version readers use (1 for a view never rebuilt; recorded on first use)."""
    await client.set(keys.shared("current"), 1, nx=True)
    return int(await client.get(keys.shared("current")) or 1)


class ProjectionRunner:
    """Consumes a view's topics and applies each batch through the exactly-once script."""

    def __init__(
        self,
        view: View,
        codec: EventCodec,
        redis_url: str,
        bootstrap_servers: str,
        dead_letters: DeadLetterSink,
        *,
        prefix: str = "",
        batch: int = 2000,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.view = view
        self.codec = codec
        self.redis_url = redis_url
        self.batch = batch
        self.keys = Keys(prefix, view.name)
        self.topics = [codec.routing.prefix + topic for topic in view.topics]
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                # one group per view and Redis prefix: the view's runners in several processes share its
                # partitions; runners of other copies must not
                "group.id": f"{codec.routing.prefix}agentlog-projection-{prefix}{view.name}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # a rebalance moves only the partitions that change owner: the others are read on meanwhile
                "partition.assignment.strategy": "cooperative-sticky",
                # a runner that died (SIGKILL) holds its partitions until its session expires: its
                # successor waited out Kafka's default 45 s; the broker's minimum is 6 s
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1500,
            }
        )
        self.client = redisconn.connect(redis_url)
        self.projector = Projector(
            view, codec, Applier(self.client), self.keys, dead_letters, retries=retries, backoff=backoff
        )
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lag_events = 0
        self.lag_seconds = 0.0
        self._reported = (0, 0, 0)

    @property
    def applied(self) -> int:
        return self.projector.applied

    @property
    def duplicates(self) -> int:
        return self.projector.duplicates

    @property
    def version(self) -> int:
        return self.projector.keys.version

    async def _stored_offsets(self) -> Mapping[Any, Any]:
        return await self.client.hgetall(self.projector.keys("offsets"))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and apply until `stop` is set; server outages (Redis, Kafka or the registry) are waited
        out with backoff, then the view re-reads from its stored offsets: nothing is dead-lettered for them."""
        await self._retrying(self._start, stop, rewind=False)
        Handover(self.view.name, self._stored_offsets, self.projector.settle).subscribe(self.consumer, self.topics)
        last_tick = 0.0
        try:
            while not stop.is_set():
                await self._retrying(self._step, stop)
                if time.monotonic() - last_tick >= TICK:
                    await self._tick(stop)
                    last_tick = time.monotonic()
            await self._retrying(self.projector.settle, stop)
        finally:
            await asyncio.to_thread(self.consumer.close)
            with contextlib.suppress(*INFRA_ERRORS):  # the heartbeat expires by itself
                await self.client.hdel(self.keys.shared("runners"), self.instance)
            await self.client.aclose()

    async def _start(self) -> None:
        self.projector.keys = self.keys.at(await current_version(self.client, self.keys))

    async def _step(self) -> None:
        """Fetch what has arrived and feed it; chunks in flight are settled by the next feed, so Redis never
        runs dry; when idle, at once."""
        fetched = await asyncio.to_thread(fetch, self.consumer, self.batch, IDLE_WAIT)  # while chunks are in Redis
        batch = owned(self.consumer, fetched)
        await (self.projector.feed(batch) if batch else self.projector.settle())
        if batch:
            self.lag_seconds = max(0.0, time.time() - batch[0].timestamp_ms / 1000)

    async def _retrying(self, step: Callable[[], Awaitable[None]], stop: asyncio.Event, *, rewind: bool = True) -> None:
        """Run `step`; while a server is out, run it again with backoff (stamina), first rewinding to the
        view's stored offsets (what was in flight is re-read: applying is idempotent), until it works or
        `stop` is set."""
        retries = stamina.retry_context(on=self._outage, attempts=None, timeout=None, wait_initial=0.2, wait_max=5.0)
        async for attempt in retries:
            with attempt:
                if attempt.num > 1:
                    if stop.is_set():
                        return
                    if rewind:
                        await self._seek(self.version)
                await step()

    def _outage(self, e: Exception) -> bool:
        """Whether `e` is a server outage, to be waited out (logged once per attempt)."""
        if isinstance(e, INFRA_ERRORS):
            log.warning("%s: %s: %s; re-reading from the stored offsets", self.view.name, type(e).__name__, e)
            return True
        return False

    async def _tick(self, stop: asyncio.Event) -> None:
        """Follow the version pointer (once what is in flight has landed), then publish lag, counters and
        a heartbeat."""
        try:
            version = int(await self.client.get(self.keys.shared("current")) or 1)
            if version != self.version:
                await self._retrying(self.projector.settle, stop)
                await self._seek(version)
                log.info("%s: now writing key version %d", self.view.name, version)
            partitions = self._measure()
            beat = {"version": self.version, "applied": self.applied, "partitions": partitions, "at": time.time()}
            await self.client.hset(self.keys.shared("runners"), self.instance, json.dumps(beat))
        except INFRA_ERRORS as e:
            log.warning("%s: status update failed: %s", self.view.name, e)

    async def _seek(self, version: int) -> None:
        """Continue in key `version` from the offsets recorded there (after a rebuild switched readers to it,
        or after an outage); nothing is in flight when this runs."""
        stored = await self.client.hgetall(self.keys.at(version)("offsets"))
        for tp in at_stored_offsets(await asyncio.to_thread(self.consumer.assignment), stored):
            await asyncio.to_thread(self.consumer.seek, tp)
        self.projector.keys = self.keys.at(version)

    def _measure(self) -> list[str]:
        """Publish this process's share of the view's metrics; the partitions it reads ("topic:partition")."""
        name = self.view.name
        assigned = self.consumer.position(self.consumer.assignment())
        highs = [self.consumer.get_watermark_offsets(tp, cached=True) for tp in assigned]
        pairs = zip(assigned, highs, strict=True)
        self.lag_events = sum(high - tp.offset for tp, (_, high) in pairs if 0 <= tp.offset < high)
        if not self.lag_events:
            self.lag_seconds = 0.0
        now = (self.projector.applied, self.projector.duplicates, self.projector.dead_lettered)
        for outcome, new, old in zip(("applied", "duplicate", "dead_lettered"), now, self._reported, strict=True):
            metrics.EVENTS.labels(name, outcome).inc(new - old)
        self._reported = now
        metrics.POSITION.labels(name).set(self.projector.position)
        metrics.LAG_EVENTS.labels(name).set(self.lag_events)
        metrics.LAG_SECONDS.labels(name).set(self.lag_seconds)
        metrics.VERSION.labels(name).set(self.version)
        metrics.PARTITIONS.labels(name).set(len(assigned))
        return sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
