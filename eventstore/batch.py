"""Group statements: concurrent appends on different streams share one statement and one commit, concurrent
loads of different streams one query.

Each command's rows carry its stream's expected version and its idempotency key (if any); the
INSERT keeps only the rows whose stream is still at that version and none of whose keys is recorded
yet (checked against the statement's snapshot, so all rows of one stream stand or fall together:
one command's, or a chain's, the commands of one process on one busy stream run together by
domain/service.py), records the key of every command it wrote with the command's result, in the same
statement, and reports which streams it wrote. A command it did not write gets ConcurrencyConflict (its stream
moved on, or its key was recorded: the caller looks the key up). If two writers race on one
stream (or one key) across statements, a UNIQUE index fails the whole statement and each command
of that batch is retried alone (so does a deadlock, which sorting the rows by stream makes unlikely).
A batch holds at most one command per stream. Nothing waits to fill a batch: a command is sent
at once when a lane is free, and commands arriving meanwhile ride the next statement together. What is
waiting is shared out over the free lanes (ceil(waiting / free lanes) each), so a burst of commands goes
out as several statements at once instead of one behind which the other lanes idle: the database works on
one part while the process prepares the commands of another (with 64 writers, 21 commands a statement
over 3 lanes went through about 20% faster than 61 in one; docs/scale.md).

Loads (the newest snapshot and the events after it, of a stream this process does not remember) ride the
same lanes' rules: a burst of commands on streams new to the process, as after a restart, reads them in a
few queries instead of one query (and one pooled connection) each.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from domain.errors import ConcurrencyConflict

Row = tuple[Any, ...]  # stream_id, stream_type, version, event_type, event_id, schema_id, topic, payload,
# tenant_id, correlation_id, causation_id, occurred_at, traceparent, expected version, its command's key (or None)
Newer = list[tuple[int, bytes]]  # (version, payload) of events another writer recorded after a command's expected one
Conflict = Callable[[asyncpg.Connection, str, int, Newer], Awaitable[ConcurrencyConflict]]

# the statement itself: eventstore/migrations/007_append_chains.sql (planned once per connection)
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


class Waiting(Protocol):
    """What waits in a lane's queue: a stream's id and the future its answer resolves."""

    stream_id: str
    done: asyncio.Future[Any]


W = TypeVar("W", bound=Waiting)


def _future() -> asyncio.Future[Any]:
    """A waiting one's `done`, on the running loop."""
    return asyncio.get_running_loop().create_future()


@dataclass(frozen=True)
class Claim:
    """An idempotent command's key, its request's hash and its result as JSON (position to be set to that of
    its last event, `event_id`)."""

    key: str
    request_hash: str
    result: str
    event_id: uuid.UUID


@dataclass
class Pending:
    """One command's rows (and its claim, when idempotent), or a chain of commands' of one stream (a claim for
    each idempotent one), waiting for their positions: all written, or none."""

    stream_id: str
    expected: int
    rows: list[Row]
    claims: list[Claim] = field(default_factory=list)
    done: asyncio.Future[list[int]] = field(default_factory=_future)


async def insert(conn: asyncpg.Connection, commands: list[Pending], conflict: Conflict) -> None:
    """Insert the commands in one statement; resolve each with its positions or its conflict (with the events
    it missed, which the statement returns for every command it did not write)."""
    if len(commands) == 1 and len(commands[0].rows) == 1:
        [row], claims = commands[0].rows, commands[0].claims
        claimed = (claims[0].request_hash, claims[0].result) if claims else (None, None)
        written = await conn.fetch(_INSERT_ONE, *row, *claimed)
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
    keyed = sorted((row for c in commands for row in c.rows), key=lambda row: (row[0], row[2]))
    # keys in one order too, for the same reason
    claims = sorted((k.key, k.request_hash, k.result, k.event_id) for c in commands for k in c.claims)
    columns = [list(column) for column in zip(*keyed, strict=True)]
    claim_columns = [list(column) for column in zip(*claims, strict=True)] if claims else [[], [], [], []]
    return [*columns, *claim_columns]


class Lanes(Generic[W]):
    """Runs what is queued through at most `lanes` concurrent statements, each taking its share of what waits
    (ceil(waiting / free lanes), at most `max_batch`, at most one per stream); `_send` runs one batch and
    resolves each one's `done`."""

    def __init__(self, pool: asyncpg.Pool, *, lanes: int = 3, max_batch: int = 256) -> None:
        self.pool = pool
        self.lanes = lanes
        self.max_batch = max_batch
        self._queue: deque[W] = deque()
        self._busy = 0  # lanes draining the queue
        self._sending = 0  # lanes waiting for a statement
        self._tasks: set[asyncio.Task[None]] = set()  # held so the loop cannot drop a running drain

    async def _submit(self, waiting: W) -> Any:
        self._queue.append(waiting)
        if self._busy < self.lanes:
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await waiting.done

    def _next_batch(self) -> list[W]:
        """This lane's share of what is waiting, at most one per stream."""
        share = min(self.max_batch, math.ceil(len(self._queue) / (self.lanes - self._sending)))
        batch: list[W] = []
        streams: set[str] = set()
        later: list[W] = []
        while self._queue and len(batch) < share:
            waiting = self._queue.popleft()
            (later if waiting.stream_id in streams else batch).append(waiting)
            streams.add(waiting.stream_id)
        self._queue.extendleft(reversed(later))
        return batch

    async def _drain(self) -> None:
        try:
            while batch := self._next_batch():
                self._sending += 1
                try:
                    await self._send(batch)
                except Exception as e:  # noqa: BLE001 - the callers, not this task, must see any failure
                    for waiting in batch:
                        if not waiting.done.done():
                            waiting.done.set_exception(e)
                finally:
                    self._sending -= 1
        finally:
            self._busy -= 1

    async def _send(self, batch: list[W]) -> None:
        raise NotImplementedError


class GroupAppender(Lanes[Pending]):
    """Appends, each command's rows in one group statement with the other commands of its batch."""

    def __init__(self, pool: asyncpg.Pool, conflict: Conflict, *, lanes: int = 3, max_batch: int = 256) -> None:
        super().__init__(pool, lanes=lanes, max_batch=max_batch)
        self.conflict = conflict

    async def append(self, stream_id: str, expected: int, rows: list[Row], claims: list[Claim]) -> list[int]:
        """The positions of the rows written; ConcurrencyConflict when the stream moved on or a
        claim's key is recorded already."""
        positions: list[int] = await self._submit(Pending(stream_id, expected, rows, claims))
        return positions

    async def _send(self, batch: list[Pending]) -> None:
        async with self.pool.acquire() as conn:
            try:
                await insert(conn, batch, self.conflict)
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):  # a race spoiled it
                for pending in batch:
                    await self._send_alone(conn, pending)

    async def _send_alone(self, conn: asyncpg.Connection, pending: Pending) -> None:
        try:
            await insert(conn, [pending], self.conflict)
        except asyncpg.UniqueViolationError:
            if not pending.done.done():
                pending.done.set_exception(await self.conflict(conn, pending.stream_id, pending.expected, []))


@dataclass
class Load:
    """One stream to load, waiting for its rows (those of `load_one`)."""

    stream_id: str
    done: asyncio.Future[list[asyncpg.Record]] = field(default_factory=_future)


class GroupLoader(Lanes[Load]):
    """Loads, concurrent ones of different streams in one statement: `load_many`'s rows for each stream, or
    `load_one`'s when a batch holds one (the statements answer alike, with the stream's id in `load_many`'s)."""

    def __init__(self, pool: asyncpg.Pool, load_one: str, load_many: str, *, lanes: int = 3) -> None:
        super().__init__(pool, lanes=lanes)
        self.load_one = load_one
        self.load_many = load_many

    async def load(self, stream_id: str) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._submit(Load(stream_id))
        return rows

    async def _send(self, batch: list[Load]) -> None:
        if len(batch) == 1:
            found = {batch[0].stream_id: await self.pool.fetch(self.load_one, batch[0].stream_id)}
        else:
            found = {load.stream_id: [] for load in batch}
            for row in await self.pool.fetch(self.load_many, list(found)):
                found[row["stream_id"]].append(row)
        for load in batch:
            if not load.done.done():  # its caller went away (cancelled)
                load.done.set_result(found[load.stream_id])
