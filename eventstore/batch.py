"""Group commit for appends: concurrent commands on different streams share one statement and one commit.

Each command's rows carry its stream's expected version and its idempotency key (if any); the
INSERT keeps only the rows whose stream is still at that version and whose key is not recorded yet
(checked against the statement's snapshot, so all rows of one command stand or fall together),
records the key of every command it wrote with the command's result, in the same statement, and
reports which streams it wrote. A command it did not write gets ConcurrencyConflict (its stream
moved on, or its key was recorded: the caller looks the key up). If two writers race on one
stream (or one key) across statements, a UNIQUE index fails the whole statement and each command
of that batch is retried alone (so does a deadlock, which sorting the rows by stream makes unlikely).
A batch holds at most one command per stream. Nothing waits to fill a batch: a command is sent
at once when a lane is free, and commands arriving meanwhile ride the next statement together.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.errors import ConcurrencyConflict

Row = tuple[Any, ...]  # stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
# tenant_id, correlation_id, causation_id, occurred_at, traceparent, expected version
Newer = list[tuple[int, bytes]]  # (version, payload) of events another writer recorded after a command's expected one
Conflict = Callable[[asyncpg.Connection, str, int, Newer], Awaitable[ConcurrencyConflict]]

# the statement itself: eventstore/migrations/005_append_returns_newer.sql (planned once per connection)
_INSERT = "SELECT * FROM append_events(" + ", ".join(f"${i}" for i in range(1, 20)) + ")"
# the same for a batch of one command of one event (one writer, most commands), answering alike: plain values
# planned in microseconds, no function call, about 0.09 ms less per statement (docs/scale.md). Its rules are
# append_events's, written twice for that speed: tests/integration/test_event_store.py runs both statements
_INSERT_ONE = """
WITH written AS (
    INSERT INTO events (stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
                        tenant_id, correlation_id, causation_id, occurred_at, traceparent)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13
    WHERE (SELECT coalesce(max(x.version), 0) FROM events x WHERE x.stream_id = $1) = $14
      AND ($15::text IS NULL OR NOT EXISTS (SELECT FROM command_results c WHERE c.idempotency_key = $15))
    RETURNING position
), claimed AS (
    INSERT INTO command_results (idempotency_key, request_hash, result)
    SELECT $15, $16, jsonb_set($17::jsonb, '{position}', to_jsonb(w.position)) FROM written w WHERE $15 IS NOT NULL
)
SELECT $1 AS stream_id, w.position, NULL::int AS version, NULL::bytea AS payload FROM written w
UNION ALL
SELECT x.stream_id, NULL, x.version, x.payload FROM events x
WHERE x.stream_id = $1 AND x.version > $14 AND NOT EXISTS (SELECT FROM written)
ORDER BY version
"""


@dataclass(frozen=True)
class Claim:
    """An idempotent command's key, its request's hash and its result as JSON (position to be set)."""

    key: str
    request_hash: str
    result: str


@dataclass
class Pending:
    """One command's rows (and its claim, when idempotent), waiting for their positions."""

    stream_id: str
    expected: int
    rows: list[Row]
    claim: Claim | None = None
    done: asyncio.Future[list[int]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


async def insert(conn: asyncpg.Connection, commands: list[Pending], conflict: Conflict) -> None:
    """Insert the commands in one statement; resolve each with its positions or its conflict (with the events
    it missed, which the statement returns for every command it did not write)."""
    if len(commands) == 1 and len(commands[0].rows) == 1:
        [[row], claim] = commands[0].rows, commands[0].claim
        written = await conn.fetch(
            _INSERT_ONE, *row, *((claim.key, claim.request_hash, claim.result) if claim else (None,) * 3)
        )
    else:
        written = await conn.fetch(_INSERT, *_group_arguments(commands))
    positions: dict[str, list[int]] = {}
    newer: dict[str, Newer] = {}
    for stream_id, position, version, payload in written:
        if position is None:
            newer.setdefault(stream_id, []).append((version, payload))
        else:
            positions.setdefault(stream_id, []).append(position)
    for command in commands:
        if command.done.done():  # its caller went away (cancelled): the others still get their answers
            continue
        if command.stream_id in positions:
            command.done.set_result(positions[command.stream_id])
        else:
            command.done.set_exception(
                await conflict(conn, command.stream_id, command.expected, newer.get(command.stream_id, []))
            )


def _group_arguments(commands: list[Pending]) -> list[list[Any]]:
    """The group statement's 19 array arguments."""
    # rows in stream order: concurrent statements then wait on each other's keys in one order and
    # cannot deadlock (the SELECT keeps that order, so the INSERT takes the keys in it)
    keyed = sorted(
        ((*row, c.claim.key if c.claim else None) for c in commands for row in c.rows), key=lambda row: (row[0], row[2])
    )
    # keys in one order too, for the same reason
    claims = sorted((c.claim.key, c.claim.request_hash, c.claim.result, c.stream_id) for c in commands if c.claim)
    columns = [list(column) for column in zip(*keyed, strict=True)]
    claim_columns = [list(column) for column in zip(*claims, strict=True)] if claims else [[], [], [], []]
    return [*columns, *claim_columns]


class GroupAppender:
    """Runs appends through at most `lanes` concurrent group statements."""

    def __init__(self, pool: asyncpg.Pool, conflict: Conflict, *, lanes: int = 2, max_batch: int = 256) -> None:
        self.pool = pool
        self.conflict = conflict
        self.lanes = lanes
        self.max_batch = max_batch
        self._queue: deque[Pending] = deque()
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()  # held so the loop cannot drop a running drain

    async def append(self, stream_id: str, expected: int, rows: list[Row], claim: Claim | None = None) -> list[int]:
        """The positions of the rows written; ConcurrencyConflict when the stream moved on or the
        claim's key is recorded already."""
        pending = Pending(stream_id, expected, rows, claim)
        self._queue.append(pending)
        if self._busy < self.lanes:
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await pending.done

    def _next_batch(self) -> list[Pending]:
        batch: list[Pending] = []
        streams: set[str] = set()
        later: list[Pending] = []
        while self._queue and len(batch) < self.max_batch:
            pending = self._queue.popleft()
            (later if pending.stream_id in streams else batch).append(pending)
            streams.add(pending.stream_id)
        self._queue.extendleft(reversed(later))
        return batch

    async def _drain(self) -> None:
        try:
            while batch := self._next_batch():
                await self._send(batch)
        finally:
            self._busy -= 1

    async def _send(self, batch: list[Pending]) -> None:
        try:
            async with self.pool.acquire() as conn:
                try:
                    await insert(conn, batch, self.conflict)
                except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):  # a race spoiled it
                    for pending in batch:
                        await self._send_alone(conn, pending)
        except Exception as e:  # noqa: BLE001 - the callers, not this task, must see any failure
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(e)

    async def _send_alone(self, conn: asyncpg.Connection, pending: Pending) -> None:
        try:
            await insert(conn, [pending], self.conflict)
        except asyncpg.UniqueViolationError:
            if not pending.done.done():
                pending.done.set_exception(await self.conflict(conn, pending.stream_id, pending.expected, []))
