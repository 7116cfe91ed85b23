"""Read-model queries the API uses; reads never load aggregates.

Read-your-writes: a command's response carries the event store position of what it recorded;
`caught_up` waits (bounded) until the view has applied that position for the stream.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from projections.views import Keys


class ViewBehind(Exception):
    """The view has not applied `position` of `stream_id` within the wait; the answer would be stale."""

    def __init__(self, view: str, stream_id: str, position: int, applied: int) -> None:
        super().__init__(f"view {view} is behind: stream {stream_id} applied up to {applied}, asked for {position}")
        self.view = view
        self.stream_id = stream_id
        self.position = position
        self.applied = applied


async def caught_up(client: aioredis.Redis, keys: Keys, stream_id: str, position: int, timeout: float = 2.0) -> None:
    """Return once the view has applied `position` for the stream; ViewBehind after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        applied = int(await client.hget(keys("positions"), stream_id) or 0)
        if applied >= position:
            return
        if time.monotonic() >= deadline:
            raise ViewBehind(keys.view, stream_id, position, applied)
        await asyncio.sleep(0.01)
