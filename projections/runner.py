"""Runs one view as its own Kafka consumer group, folding every event exactly once into Redis.

Offsets live in Redis next to the view (written by the same atomic step as each change), so a
restarted runner resumes exactly where the view is, whatever Kafka's group offsets say.
"""

from __future__ import annotations

import asyncio
import logging

import redis
import redis.asyncio as aioredis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from contracts.codec import EventCodec
from contracts.errors import ContractError
from projections.apply import Applier, Delivery
from projections.views import Keys, View

log = logging.getLogger("agentlog.projections")


class ProjectionRunner:
    """Consumes a view's topics and applies each event through the exactly-once script."""

    def __init__(
        self,
        view: View,
        codec: EventCodec,
        redis_url: str,
        bootstrap_servers: str,
        *,
        prefix: str = "",
        version: int = 1,
        batch: int = 2000,
    ) -> None:
        self.view = view
        self.codec = codec
        self.keys = Keys(prefix, view.name, version)
        self.redis_url = redis_url
        self.batch = batch
        self.topics = [codec.routing.prefix + topic for topic in view.topics]
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"{codec.routing.prefix}agentlog-projection-{view.name}-v{version}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.applied = 0
        self.duplicates = 0

    @property
    def offsets_key(self) -> str:
        return self.keys("offsets")

    def _resume(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """On assignment, start each partition at the offset the view recorded (else the beginning)."""
        with redis.Redis.from_url(self.redis_url) as client:
            stored = client.hgetall(self.offsets_key)
        for tp in partitions:
            offset = stored.get(f"{tp.topic}:{tp.partition}".encode())
            tp.offset = int(offset) if offset is not None else OFFSET_BEGINNING
        consumer.assign(partitions)

    def _delivery(self, message: Message) -> Delivery:
        recorded = self.codec.decode(message.value() or b"")
        headers = dict(message.headers() or [])
        return Delivery(
            applied_key=self.keys("applied", recorded.meta.stream_id),
            offsets_key=self.offsets_key,
            positions_key=self.keys("positions"),
            stream_id=recorded.meta.stream_id,
            position=int(headers.get("position") or 0),
            version=recorded.meta.stream_version,
            partition=f"{message.topic()}:{message.partition()}",
            next_offset=(message.offset() or 0) + 1,
            ops=self.view.fold(recorded, self.keys),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and apply until `stop` is set."""
        self.consumer.subscribe(self.topics, on_assign=self._resume)
        client = aioredis.Redis.from_url(self.redis_url)
        applier = Applier(client)
        try:
            while not stop.is_set():
                messages = await asyncio.to_thread(self.consumer.consume, self.batch, 0.2)
                deliveries = [self._delivery(m) for m in messages if not m.error() and self._decodable(m)]
                if deliveries:
                    results = await applier.apply(deliveries)
                    self.applied += sum(results)
                    self.duplicates += len(results) - sum(results)
        finally:
            await asyncio.to_thread(self.consumer.close)
            await client.aclose()

    def _decodable(self, message: Message) -> bool:
        try:
            self.codec.writer_name(message.value() or b"")
        except ContractError as e:
            log.error(
                "skipping undecodable record %s:%s@%s: %s", message.topic(), message.partition(), message.offset(), e
            )
            return False
        return True
