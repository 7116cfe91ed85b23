"""Group reads of what streams recorded since a version: concurrent reads share one statement.

A process deciding many commands at once asks again and again what a few streams recorded since it
last looked (a fresh load: the tenant's budget limits and usage before every charge, a session
before every reply, a model profile). Asked at the same time, the same stream since the same
version is read once and every asker gets the answer; different streams ride one statement
(`unnest` of the pairs, joined on the stream's index). As with the group appends, nothing waits to
fill a batch: a read is sent at once when a lane is free, and reads arriving meanwhile go together
in the next statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

_ONE = "SELECT version, payload FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version"
_MANY = """
SELECT s.i, e.version, e.payload
FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS s(stream_id, after, i)
JOIN events e ON e.stream_id = s.stream_id AND e.version > s.after
ORDER BY s.i, e.version
"""

Key = tuple[str, int]  # a stream and the version read after


class GroupReader:
    """The events each stream recorded after a version, `decode`d, through at most `lanes` statements at once."""

    def __init__(self, pool: asyncpg.Pool, decode: Callable[[bytes], Any], *, lanes: int = 2, max_batch: int = 256):
        self.pool = pool
        self.decode = decode
        self.lanes = lanes
        self.max_batch = max_batch
        self._waiting: dict[Key, asyncio.Future[list[tuple[int, Any]]]] = {}  # not sent yet, in order of asking
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()  # held so the loop cannot drop a running drain

    async def after(self, stream_id: str, version: int) -> list[tuple[int, Any]]:
        """(version, decoded event) of every event of the stream after `version`, in version order."""
        key = (stream_id, version)
        answer = self._waiting.get(key)
        if answer is None:
            answer = self._waiting[key] = asyncio.get_running_loop().create_future()
            answer.add_done_callback(_retrieved)
            if self._busy < self.lanes:
                self._busy += 1
                task = asyncio.get_running_loop().create_task(self._drain())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(answer)  # one asker giving up must not cancel the others' answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[: self.max_batch]
                batch = {key: self._waiting.pop(key) for key in keys}
                await self._send(batch)
        finally:
            self._busy -= 1

    async def _send(self, batch: dict[Key, asyncio.Future[list[tuple[int, Any]]]]) -> None:
        keys = list(batch)
        try:
            if len(keys) == 1:
                rows = [(1, version, payload) for version, payload in await self.pool.fetch(_ONE, *keys[0])]
            else:
                rows = await self.pool.fetch(_MANY, [k[0] for k in keys], [k[1] for k in keys])
            found: list[list[tuple[int, Any]]] = [[] for _ in keys]
            for i, version, payload in rows:
                found[i - 1].append((version, self.decode(payload)))
        except Exception as e:  # noqa: BLE001 - the askers, not this task, must see any failure
            for answer in batch.values():
                if not answer.done():
                    answer.set_exception(e)
            return
        for answer, events in zip(batch.values(), found, strict=True):
            if not answer.done():
                answer.set_result(events)


def _retrieved(answer: asyncio.Future[Any]) -> None:
    """Mark a failed answer as seen: its askers may all have given up (each raises it if still waiting)."""
    if not answer.cancelled():
        answer.exception()
