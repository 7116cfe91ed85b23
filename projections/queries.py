"""Read-model queries the API uses; reads never load aggregates.

Every query reads the key version readers are pointed at (a rebuild switches it atomically).
Read-your-writes: a command's response carries the event-store position of what it recorded;
`wait_for` waits (bounded) until the view has applied that position for the stream, else says
the view is behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from observability import redisconn
from projections.views import Keys

Row = dict[str, Any]


# Redis cannot serve now: refused or dropped connections, a timeout, or loading its append-only file
# (BusyLoadingError is a ConnectionError): a read may be retried as it is.
REDIS_OUTAGES: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(url: str) -> aioredis.Redis:
    """A client for reading the views: a pooled connection that Redis dropped (a restart) is opened again
    and the read retried, up to 3 times within about a second, before the outage reaches the caller."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)
    return redisconn.connect(url, decode_responses=True, retry=retry)


class ViewBehind(Exception):
    """The view has not applied `position` of `stream_id` within the wait; the answer would be stale."""

    def __init__(self, view: str, stream_id: str, position: int, applied: int) -> None:
        super().__init__(f"view {view} is behind: stream {stream_id} applied up to {applied}, asked for {position}")
        self.view = view
        self.stream_id = stream_id
        self.position = position
        self.applied = applied


class ReadModels:
    """Queries over the views under one key prefix; `client` must decode responses."""

    def __init__(self, client: aioredis.Redis, prefix: str = "agentlog:") -> None:
        self.client: Any = client  # replies are str (decode_responses), which redis's types cannot say
        self.prefix = prefix

    async def keys(self, view: str) -> Keys:
        """The keys of the version readers use now."""
        shared = Keys(self.prefix, view)
        return shared.at(int(await self.client.get(shared.shared("current")) or 1))

    async def applied(self, view: str, stream_id: str) -> int:
        """The store position of the stream's last event `view` applied (0: none)."""
        return int(await self.client.hget((await self.keys(view))("positions"), stream_id) or 0)

    async def wait_for(self, view: str, stream_id: str, position: int, timeout: float = 2.0) -> None:
        """Return once `view` applied `position` of the stream; ViewBehind after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            applied = await self.applied(view, stream_id)
            if applied >= position:
                return
            if time.monotonic() >= deadline:
                raise ViewBehind(view, stream_id, position, applied)
            await asyncio.sleep(0.01)

    async def _hash(self, view: str, *parts: object) -> Row | None:
        row = await self.client.hgetall((await self.keys(view))(*parts))
        return {k: v for k, v in row.items() if k != "_version"} or None

    async def session(self, session_id: object) -> Row | None:
        """tenant_id, persona_id, status, messages, started_at / last_activity / closed_at (epoch ms)."""
        return await self._hash("sessions", "session", session_id)

    async def sessions(
        self, tenant: str, limit: int = 50, after: tuple[int, str] | None = None
    ) -> list[tuple[str, int]]:
        """(session id, last activity in epoch ms), newest first; `after` = the previous page's last pair."""
        keys = await self.keys("sessions")
        top = after[0] if after else "+inf"
        # ties on the time are ordered by id, descending: skip those up to and including `after`
        found = await self.client.zrevrangebyscore(keys("by-tenant", tenant), top, "-inf", 0, limit + 50, True)
        rows = [(member, int(score)) for member, score in found]
        if after:
            rows = [(m, t) for m, t in rows if t < after[0] or m < after[1]]
        return rows[:limit]

    async def messages(self, session_id: object, after_version: int = 0, limit: int = 100) -> list[Row]:
        """The session's messages in order (role, text, attachments, metadata, at, version)."""
        keys = await self.keys("transcript")
        found = await self.client.zrangebyscore(keys("messages", session_id), f"({after_version}", "+inf", 0, limit)
        return [json.loads(m) for m in found]

    async def reply_in_progress(self, session_id: object, message_id: object) -> str:
        """The chunks of an assistant reply not yet final, joined in order ("" when none)."""
        keys = await self.keys("transcript")
        chunks = await self.client.hgetall(keys("chunks", session_id, message_id))
        return "".join(chunks[i] for i in sorted(chunks, key=int))

    async def live(self, session_id: object, after: str = "0-0", count: int = 100, block_ms: int | None = None):  # type: ignore[no-untyped-def]
        """Transcript updates after entry id `after`: [(id, kind, data)]; `block_ms` waits for new ones."""
        stream = Keys(self.prefix, "transcript").shared("live", session_id)
        found = await self.client.xread({stream: after}, count=count, block=block_ms)
        return [
            (entry, fields["kind"], json.loads(fields["data"])) for _, entries in found for entry, fields in entries
        ]

    async def tool_execution(self, request_id: object) -> Row | None:
        """tool_name, arguments_json, session_id, tenant_id, status and the outcome's fields."""
        return await self._hash("tools", "execution", request_id)

    async def tool_executions(self, session_id: object) -> list[str]:
        """Request ids of the session's tool executions, oldest first."""
        return list(await self.client.zrange((await self.keys("tools"))("by-session", session_id), 0, -1))

    async def usage(self, tenant: str, persona: str, day: date) -> Row | None:
        """One persona's usage on one day: used, limit, remaining, refused (None before any use)."""
        usage = await self.client.hgetall((await self.keys("budgets"))("usage", tenant, persona, day.isoformat()))
        return {k: int(v) for k, v in usage.items() if k != "_version"} or None

    async def budget_usage(self, tenant: str) -> list[Row]:
        """Per persona and day: used, limit, remaining, refused."""
        keys = await self.keys("budgets")
        rows = []
        for entry in sorted(await self.client.smembers(keys("days", tenant))):
            persona, day = entry.rsplit(":", 1)
            usage = await self.client.hgetall(keys("usage", tenant, persona, day))
            rows.append({"persona_id": persona, "day": day} | {k: int(v) for k, v in usage.items() if k != "_version"})
        return rows

    async def task(self, task_id: object) -> Row | None:
        return await self._hash("delegation", "task", task_id)

    async def tasks(self, tenant: str, status: str) -> set[str]:
        """Ids of the tenant's delegation tasks in `status` (queued, running, completed, failed)."""
        return set(await self.client.smembers((await self.keys("delegation"))("status", tenant, status)))

    async def model_profile(self, role: str, deployment_mode: str) -> Row | None:
        """The profile, or None when never set or removed."""
        row = await self._hash("model_profiles", "profile", role, deployment_mode)
        return row if row and row.get("status") == "set" else None

    async def model_profiles(self) -> list[str]:
        """`role:deployment_mode` of every profile currently set."""
        return sorted(await self.client.smembers((await self.keys("model_profiles"))("all")))
