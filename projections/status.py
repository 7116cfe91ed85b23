"""Each view's health, read from Redis and Kafka (so it is right even while no runner is up).

Lag in events: per partition of the view's topics, Kafka's end offset minus the offset the view
recorded. Lag in seconds: how long ago the oldest event not yet applied was written to Kafka.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis
from confluent_kafka import Consumer, TopicPartition

from contracts.routing import Routing
from projections.deadletter import dlq_topic, end_offset
from projections.views import Keys, View

BEHIND_SECONDS = 10.0  # lag beyond which a view is reported as behind
ALIVE_SECONDS = 5.0  # a runner that wrote no heartbeat for this long is gone


@dataclass(frozen=True)
class ViewStatus:
    """How one view stands: the version readers use, what it applied, how far behind it is."""

    view: str
    version: int
    rebuilding: bool
    position: int
    last_event_at: float | None  # epoch seconds of the newest event applied
    lag_events: int
    lag_seconds: float
    runners: int
    dead_letters: int  # in the dead-letter topic, not yet replayed

    @property
    def health(self) -> str:
        if self.runners == 0:
            return "stopped"
        return "behind" if self.lag_seconds > BEHIND_SECONDS else "ok"


def view_status(client: redis.Redis, consumer: Consumer, routing: Routing, prefix: str, view: View) -> ViewStatus:
    """The status of one view (`client` decodes responses; `consumer` only reads, commits nothing)."""
    shared = Keys(prefix, view.name)
    keys = shared.at(int(client.get(shared.shared("current")) or 1))
    state = client.hgetall(keys("state"))
    offsets = {
        str(k, "utf-8") if isinstance(k, bytes) else k: int(v) for k, v in client.hgetall(keys("offsets")).items()
    }
    heartbeats = [json.loads(v) for v in client.hgetall(shared.shared("runners")).values()]
    lag_events, oldest = _lag(consumer, [routing.prefix + t for t in view.topics], offsets)
    replayed = int(client.get(shared.shared("dlq-replayed")) or 0)
    event_ms = int(state.get("event_ms", 0))
    return ViewStatus(
        view=view.name,
        version=keys.version,
        rebuilding=bool(client.exists(shared.shared("rebuilding"))),
        position=int(state.get("position", 0)),
        last_event_at=event_ms / 1000 if event_ms else None,
        lag_events=lag_events,
        lag_seconds=max(time.time() - oldest / 1000, 0.0) if oldest else 0.0,
        runners=sum(1 for h in heartbeats if h["at"] > time.time() - ALIVE_SECONDS),
        dead_letters=max(end_offset(consumer, dlq_topic(routing.prefix, view.name)) - replayed, 0),
    )


def _lag(consumer: Consumer, topics: list[str], offsets: dict[str, int]) -> tuple[int, int]:
    """(events waiting, Kafka timestamp in ms of the oldest waiting one, 0 if none)."""
    metadata = consumer.list_topics(timeout=10).topics
    waiting, oldest = 0, 0
    for topic in topics:
        for partition in metadata[topic].partitions if topic in metadata else []:
            tp = TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            start = max(offsets.get(f"{topic}:{partition}", low), low)
            if start < high:
                waiting += high - start
                stamp = _timestamp_at(consumer, TopicPartition(topic, partition, start))
                oldest = min(oldest, stamp) if oldest else stamp
    return waiting, oldest


def _timestamp_at(consumer: Consumer, tp: TopicPartition) -> int:
    consumer.assign([tp])
    message = consumer.poll(5.0)
    return message.timestamp()[1] if message is not None and not message.error() else int(time.time() * 1000)


def statuses(
    redis_url: str, bootstrap_servers: str, routing: Routing, prefix: str, views: list[View]
) -> list[ViewStatus]:
    """The status of every view named."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": "agentlog-projection-status", "enable.auto.commit": False}
    )
    try:
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            return [view_status(client, consumer, routing, prefix, view) for view in views]
    finally:
        consumer.close()
