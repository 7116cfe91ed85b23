"""Each view's health against the event store's head, read from Redis, Postgres and Kafka (right even
while no runner is up).

Freshness is measured against the store: a relay that stopped publishing leaves Kafka "caught up"
while the store moves on. Behind in events: the events on the view's topics stored past the position
the view applied; behind in seconds: the age of the oldest of them. That position is the highest
applied, so when several processes share the view's partitions and one stops, the others' progress
hides what waits on its partitions: the view is also measured against Kafka as its consumer group
stands (every process), by the offsets the view stored in Redis per partition; the larger counts.
A view whose runners are alive but whose oldest waiting event is too old (observability.freshness)
is `degraded`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from confluent_kafka import Consumer

from contracts.lag import partitions_of, trailing
from contracts.routing import Routing
from observability.freshness import freshness
from projections.deadletter import dlq_topic, end_offset
from projections.views import Keys, View

ALIVE_SECONDS = 5.0  # a runner that wrote no heartbeat for this long is gone
_BEHIND = """
SELECT count(*) AS events, extract(epoch FROM now() - min(recorded_at)) AS seconds
FROM events WHERE position > $1 AND topic = ANY($2)
"""


@dataclass(frozen=True)
class ViewStatus:
    """How one view stands: the version readers use, what it applied, how far behind the store it is."""

    view: str
    version: int
    rebuilding: bool
    position: int
    last_event_at: float | None  # epoch seconds of the newest event applied
    lag_events: int  # stored events on the view's topics it has not applied
    lag_seconds: float  # age of the oldest of them (0: caught up)
    runners: int
    dead_letters: int  # in the dead-letter topic, not yet replayed

    @property
    def health(self) -> str:
        """stopped (no runner), degraded (a runner, but the store is too far ahead) or ok."""
        return freshness(self.lag_seconds) if self.runners else "stopped"


async def view_status(
    client: aioredis.Redis, store: asyncpg.Pool, consumer: Consumer, routing: Routing, prefix: str, view: View
) -> ViewStatus:
    """The status of one view (`client` decodes responses; `consumer` only reads, commits nothing)."""
    shared = Keys(prefix, view.name)
    keys = shared.at(int(await client.get(shared.shared("current")) or 1))
    state = await client.hgetall(keys("state"))
    heartbeats = [json.loads(v) for v in (await client.hgetall(shared.shared("runners"))).values()]
    position = int(state.get("position", 0))
    topics = [routing.prefix + t for t in view.topics]
    behind = await store.fetchrow(_BEHIND, position, topics)
    unread = await asyncio.to_thread(_unread, consumer, topics, held(await client.hgetall(keys("offsets"))))
    replayed = int(await client.get(shared.shared("dlq-replayed")) or 0)
    dead = await asyncio.to_thread(end_offset, consumer, dlq_topic(routing.prefix, view.name))
    event_ms = int(state.get("event_ms", 0))
    return ViewStatus(
        view=view.name,
        version=keys.version,
        rebuilding=bool(await client.exists(shared.shared("rebuilding"))),
        position=position,
        last_event_at=event_ms / 1000 if event_ms else None,
        lag_events=max(int(behind["events"]), unread[0]),
        lag_seconds=max(float(behind["seconds"] or 0), unread[1]),
        runners=sum(1 for h in heartbeats if h["at"] > time.time() - ALIVE_SECONDS),
        dead_letters=max(dead - replayed, 0),
    )


def held(offsets: Mapping[Any, Any]) -> dict[tuple[str, int], int]:
    """The view's offsets hash ("topic:partition" -> next offset, text or bytes) as (topic, partition) -> offset."""
    found = {}
    for field, offset in offsets.items():
        topic, partition = (field.decode() if isinstance(field, bytes) else field).rsplit(":", 1)
        found[(topic, int(partition))] = int(offset)
    return found


def _unread(consumer: Consumer, topics: list[str], offsets: dict[tuple[str, int], int]) -> tuple[int, float]:
    """The records of the view's partitions past its stored offsets, whichever process reads each, and the age
    of the oldest (blocking)."""
    places = partitions_of(consumer, topics)
    return trailing(consumer, places, offsets) if places else (0, 0.0)


async def statuses(
    client: aioredis.Redis,
    store: asyncpg.Pool,
    bootstrap_servers: str,
    routing: Routing,
    prefix: str,
    views: list[View],
) -> list[ViewStatus]:
    """The status of every view named (`store`: a pool or connection on the event store's schema)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": "agentlog-projection-status", "enable.auto.commit": False}
    )
    try:
        return [await view_status(client, store, consumer, routing, prefix, view) for view in views]
    finally:
        await asyncio.to_thread(consumer.close)
