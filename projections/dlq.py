"""A view's dead letters not replayed yet: listed and replayed the same way by `agentlog projections dlq` and the
API's /v1/admin/dead-letters (the topic itself: deadletter.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from contracts.codec import EventCodec
from projections.apply import Applier
from projections.deadletter import DeadLetter, DeadLetters, Replayed, dlq_topic, read, replay
from projections.pipeline import Projector
from projections.views import Keys, View

MARK = "dlq-replayed"  # the shared key holding the offset replays have reached


@dataclass(frozen=True)
class Where:
    """Where a view's dead letters and keys are: Kafka, the topic prefix, the Redis key prefix."""

    bootstrap_servers: str
    topic_prefix: str
    redis_prefix: str

    def topic(self, view: View) -> str:
        return dlq_topic(self.topic_prefix, view.name)


async def replayed_up_to(client: aioredis.Redis, where: Where, view: View) -> int:
    """The dead-letter offset replays have reached: letters before it were replayed (or failed again, listed anew)."""
    return int(await client.get(Keys(where.redis_prefix, view.name).shared(MARK)) or 0)


async def pending(client: aioredis.Redis, where: Where, view: View, *, every: bool = False) -> list[DeadLetter]:
    """The view's dead letters not replayed yet (`every`: those replayed too), oldest first."""
    mark = 0 if every else await replayed_up_to(client, where, view)
    return await asyncio.to_thread(lambda: list(read(where.bootstrap_servers, where.topic(view), mark)))


def row(letter: DeadLetter) -> dict[str, Any]:
    """One letter as the CLI's --json and the API show it."""
    return {
        "offset": letter.offset,
        "event_type": letter.event_type,
        "from": f"{letter.event.topic}:{letter.event.partition}@{letter.event.offset}",
        "position": letter.event.position,
        "attempts": letter.attempts,
        "failed_at": letter.failed_at,
        "error": letter.error,
    }


async def replay_view(
    client: aioredis.Redis,
    where: Where,
    view: View,
    codec: EventCodec,
    dead_letters: DeadLetters,
    *,
    retries: int = 3,
    backoff: float = 0.2,
) -> Replayed:
    """Apply the view's pending dead letters again into its current key version (after the cause was fixed); those
    that fail again go back to its topic, and the mark moves past what was read."""
    shared = Keys(where.redis_prefix, view.name)
    version = int(await client.get(shared.shared("current")) or 1)
    projector = Projector(
        view, codec, Applier(client), shared.at(version), dead_letters, offsets=False, retries=retries, backoff=backoff
    )
    mark = await replayed_up_to(client, where, view)
    done, mark = await replay(projector, where.bootstrap_servers, where.topic(view), mark)
    await client.set(shared.shared(MARK), mark)
    return done
