"""The Postgres event store (asyncpg): the recorder (rows in, rows out) under domain/repository.py's folds.

PostgresRecorder appends atomically with optimistic concurrency and idempotency; PostgresEventStore
is the Repository over it that commands run against (it folds, remembers and snapshots).

An append is one INSERT ... SELECT over the events, guarded by "the stream's current version is
the expected one"; two writers that both pass the guard collide on UNIQUE (stream_id, version)
and the loser gets ConcurrencyConflict. An idempotent command's key and result are recorded by the
same statement. Appends of concurrent commands on different streams share one such statement and
one commit (eventstore/batch.py). Every event is encoded by the contracts codec before
anything is written, so an event its registered schema refuses is never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg
from opentelemetry.trace import SpanKind

from contracts.codec import EventCodec
from contracts.convert import from_plain, to_plain
from domain.errors import ConcurrencyConflict, IdempotencyKeyReused
from domain.events import AppendResult, CommandContext, DomainEvent, EventMetadata, RecordedEvent
from domain.repository import Repository, Stored
from eventstore.batch import Claim, GroupAppender, GroupLoader, Newer
from eventstore.errors import translate_outages
from observability.tracing import span

S = TypeVar("S")
CHANNEL = "agentlog_events"
# The relay's wake-up channel of the schema a connection works in (its search_path): appends to one schema
# wake only that schema's relays. Channel names are cut to 63 bytes, as Postgres cuts identifiers.
CHANNEL_OF_SCHEMA = f"SELECT left('{CHANNEL}:' || current_schema(), 63)"
NOTIFY_GAP = 0.005  # seconds: the most an appended event waits for the relay's wake-up while appends go on

# One round trip: the stream's snapshot (if any), then its first event (whose tenant owns the
# stream, and whose stream type says what kind of aggregate it is) and every event after the snapshot.
_STREAM_ROWS = """
WITH snap AS (SELECT version, state FROM snapshots WHERE stream_id = {stream})
SELECT 0 AS part, version, NULL AS tenant_id, NULL AS stream_type, NULL::bytea AS payload, state::text AS snapshot
FROM snap
UNION ALL
SELECT 1, version, tenant_id, stream_type, payload, NULL FROM events
WHERE stream_id = {stream} AND (version > coalesce((SELECT version FROM snap), 0) OR version = 1)
"""
_LOAD = _STREAM_ROWS.format(stream="$1") + "ORDER BY part, version"
# the same for many streams at once (eventstore/batch.py GroupLoader), each stream's rows by its index, in order
_LOAD_MANY = (
    "SELECT w.stream_id, x.* FROM unnest($1::text[]) AS w(stream_id) CROSS JOIN LATERAL ("
    + _STREAM_ROWS.format(stream="w.stream_id")
    + ") x ORDER BY w.stream_id, x.part, x.version"
)
_AFTER = "SELECT version, payload FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version"
# the position of a stream's last event at or before a store position (read-your-writes, api/deps.py)
_LAST_POSITION = "SELECT position FROM events WHERE stream_id = $1 AND position <= $2 ORDER BY version DESC LIMIT 1"
_READ = """
SELECT payload FROM events WHERE stream_id = $1 AND version <= $2 AND ($4::text IS NULL OR event_type = $4)
ORDER BY version DESC LIMIT $3
"""


class PostgresRecorder:
    """Recorder over a Postgres schema migrated by `agentlog db migrate`: events encoded by the codec."""

    def __init__(self, pool: asyncpg.Pool, codec: EventCodec) -> None:
        self.pool = pool
        self.codec = codec
        self._notify_pending = False
        self._notifier: asyncio.Task[None] | None = None
        self._notified_at = -NOTIFY_GAP  # loop time of the last NOTIFY
        self._group = GroupAppender(pool, self._conflict)
        self._loads = GroupLoader(pool, _LOAD, _LOAD_MANY)

    @translate_outages
    async def read(self, stream_id: str, state_type: type[S]) -> Stored:
        """The newest snapshot and the events after it; the first event too (its tenant owns the stream,
        its stream type says what kind of aggregate it is), in one query."""
        rows = await self._loads.load(stream_id)
        snapshot = None
        if rows and rows[0]["snapshot"] is not None:
            snapshot = (rows[0]["version"], from_plain(state_type, json.loads(rows[0]["snapshot"])))
            rows = rows[1:]
        if not rows:
            return Stored(snapshot=snapshot)
        after = snapshot[0] if snapshot else 0
        events = [(row["version"], self.codec.decode(row["payload"]).event) for row in rows if row["version"] > after]
        return Stored(rows[0]["stream_type"], rows[0]["tenant_id"], snapshot, events)

    @translate_outages
    async def read_after(self, stream_id: str, version: int) -> list[tuple[int, DomainEvent]]:
        rows = await self.pool.fetch(_AFTER, stream_id, version)
        return [(row["version"], self.codec.decode(row["payload"]).event) for row in rows]

    @translate_outages
    async def read_stream(
        self, stream_id: str, *, upto: int | None = None, last: int | None = None, of_type: str | None = None
    ) -> list[RecordedEvent]:
        """The stream's events, with their metadata, in version order: all, or the `last` ones up to version
        `upto` (a long conversation's tail is one indexed read, not the whole stream), of one type if given."""
        rows = await self.pool.fetch(_READ, stream_id, upto or 2**31 - 1, last, of_type)
        return [self.codec.decode(row["payload"]) for row in reversed(rows)]

    @translate_outages
    async def recall(self, context: CommandContext) -> AppendResult | None:
        if context.idempotency_key is None:
            return None
        async with self.pool.acquire() as conn:
            return await _stored_result(conn, context)

    @translate_outages
    async def recorded_keys(self, keys: Sequence[str]) -> set[str]:
        found = await self.pool.fetch(
            "SELECT idempotency_key FROM command_results WHERE idempotency_key = ANY($1::text[])", list(keys)
        )
        return {row["idempotency_key"] for row in found}

    async def write(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
    ) -> tuple[AppendResult, bool]:
        try:
            [result] = await self.write_chain(stream_id, stream_type, expected_version, [(events, context)])
        except ConcurrencyConflict:
            if (stored := await self.recall(context)) is not None:  # the key was recorded meanwhile
                return stored, False
            raise
        return result, True

    @translate_outages
    async def write_chain(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        commands: Sequence[tuple[Sequence[DomainEvent], CommandContext]],
    ) -> list[AppendResult]:
        """Record the commands' events one after the other after `expected_version`, all in one statement or none;
        ConcurrencyConflict when the stream moved on or a command's key is recorded already."""
        version, results, rows, claims, encoded_all = expected_version, [], [], [], []
        for events, context in commands:
            recorded = self._record(stream_id, stream_type, version, events, context)
            encoded = [self.codec.encode(r) for r in recorded]  # refuses invalid events before any write
            rows += [
                (
                    stream_id,
                    stream_type,
                    r.meta.stream_version,
                    e.event_type,
                    r.meta.event_id,
                    e.schema_id,
                    e.topic,
                    e.value,
                    context.tenant_id,
                    context.correlation_id,
                    context.causation_id,
                    context.occurred_at,
                    context.trace.traceparent if context.trace else None,
                    expected_version,
                    context.idempotency_key,
                )
                for r, e in zip(recorded, encoded, strict=True)
            ]
            result = _result(stream_id, version, [0], recorded)
            if (claim := self._claim_of(context, result, recorded[-1].meta.event_id)) is not None:
                claims.append(claim)
            results.append((version, recorded))
            encoded_all += encoded
            version += len(recorded)
        attributes = _append_attributes(stream_id, stream_type, encoded_all, commands[0][1])
        with span(
            "eventstore.append", kind=SpanKind.CLIENT, attributes=attributes, outcomes=(ConcurrencyConflict,)
        ) as s:
            positions = await self._group.append(stream_id, expected_version, rows, claims)
            s.set_attribute("agentlog.position", max(positions))
        self._notify_soon()
        done, out = 0, []
        for expected, recorded in results:
            out.append(_result(stream_id, expected, positions[done : done + len(recorded)], recorded))
            done += len(recorded)
        return out

    def _record(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
    ) -> list[RecordedEvent]:
        return [
            RecordedEvent(
                event=event,
                meta=EventMetadata(
                    event_id=uuid.uuid4(),
                    stream_id=stream_id,
                    stream_type=stream_type,
                    stream_version=expected_version + offset,
                    tenant_id=context.tenant_id,
                    occurred_at=context.occurred_at,
                    correlation_id=context.correlation_id,
                    causation_id=context.causation_id,
                    trace=context.trace,
                ),
            )
            for offset, event in enumerate(events, start=1)
        ]

    @staticmethod
    def _claim_of(context: CommandContext, result: AppendResult, last_event: uuid.UUID) -> Claim | None:
        """What an idempotent command records beside its events: its key, request hash and result."""
        if context.idempotency_key is None:
            return None
        plain = json.dumps(to_plain(result), default=str)
        return Claim(context.idempotency_key, context.request_hash or "", plain, last_event)

    async def _conflict(
        self, conn: asyncpg.Connection, stream_id: str, expected: int, newer: Newer
    ) -> ConcurrencyConflict:
        """The stream moved on: say where it is, with the events the command missed when the append returned them."""
        if not newer:
            return ConcurrencyConflict(stream_id, expected, await self._version(conn, stream_id))
        events = [(version, self.codec.decode(payload).event) for version, payload in newer]
        return ConcurrencyConflict(stream_id, expected, events[-1][0], newer=events)

    @staticmethod
    async def _version(conn: asyncpg.Connection, stream_id: str) -> int:
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", stream_id))

    @translate_outages
    async def save_snapshot(self, stream_id: str, stream_type: str, version: int, state: object) -> None:
        await self.pool.execute(
            "INSERT INTO snapshots (stream_id, stream_type, version, state) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, "
            "taken_at = now() WHERE snapshots.version < EXCLUDED.version",
            stream_id,
            stream_type,
            version,
            json.dumps(to_plain(state), default=str),
        )
        # a write of its own, with a transaction id: while it runs, appends that commit after it started stay
        # behind the relay's horizon (eventstore/relay.py), and their NOTIFY may have come and gone: wake it again
        self._notify_soon()

    def _notify_soon(self) -> None:
        """Wake the relay, sent outside the append transaction: at once after a quiet spell, else at most once
        per NOTIFY_GAP for all the appends in between.

        A NOTIFY is a commit of its own (Postgres gives it a transaction id) and takes Postgres's global notify
        lock: inside every append it would serialise their commits, and after every append it would double them
        (one writer appended 951 / 934 events/s with a NOTIFY after almost every append, 1,362 / 1,519 without).
        The relay also polls, so a lost notification only delays, never loses, events.
        """
        if not self._notify_pending:
            self._notify_pending = True
            self._notifier = asyncio.get_running_loop().create_task(self._notify())  # held: not collected

    async def notified(self) -> None:
        """Once the NOTIFY on its way (if any) is sent: the pool may close then."""
        if self._notifier is not None:
            await asyncio.gather(self._notifier, return_exceptions=True)

    async def _notify(self) -> None:
        loop = asyncio.get_running_loop()
        if (wait := self._notified_at + NOTIFY_GAP - loop.time()) > 0:
            await asyncio.sleep(wait)
        # an append returning from now on may commit after the relay has woken on this NOTIFY: it schedules the next
        self._notify_pending = False
        self._notified_at = loop.time()
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await self.pool.execute(f"SELECT pg_notify(({CHANNEL_OF_SCHEMA}), NULL)")  # if lost, the relay polls


class PostgresEventStore(Repository):
    """The EventStore of the API and the workers: a Repository over a PostgresRecorder."""

    recorder: PostgresRecorder

    def __init__(
        self, pool: asyncpg.Pool, codec: EventCodec, *, snapshot_every: int = 50, cache_size: int = 10_000
    ) -> None:
        super().__init__(PostgresRecorder(pool, codec), snapshot_every=snapshot_every, cache_size=cache_size)
        self.pool = pool
        self.codec = codec

    @classmethod
    async def connect(
        cls, dsn: str, codec: EventCodec, *, schema: str = "public", pool_size: int = 16, snapshot_every: int = 50
    ) -> PostgresEventStore:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min(2, pool_size),
            max_size=pool_size,
            server_settings={"search_path": schema},
            reset=_keep_session,
        )
        return cls(pool, codec, snapshot_every=snapshot_every)

    async def close(self) -> None:
        await self.recorder.notified()
        await self.pool.close()

    @translate_outages
    async def last_position(self, stream_id: str, at_most: int) -> int:
        """The store position of the stream's last event at or before position `at_most` (0: none)."""
        return int(await self.pool.fetchval(_LAST_POSITION, stream_id, at_most) or 0)


def _append_attributes(
    stream_id: str, stream_type: str, encoded: Sequence[Any], context: CommandContext
) -> dict[str, Any]:
    """What an append's span says: the database operation (OpenTelemetry's db.* names) and what it writes."""
    return {
        "db.system.name": "postgresql",
        "db.operation.name": "INSERT",
        "db.collection.name": "events",
        "agentlog.tenant": context.tenant_id,
        "agentlog.stream_id": stream_id,
        "agentlog.stream_type": stream_type,
        "agentlog.event_type": ",".join(dict.fromkeys(e.event_type for e in encoded)),
        "agentlog.events": len(encoded),
    }


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset on release (a round trip per use): store connections keep no session state."""


def _result(stream_id: str, expected_version: int, positions: list[int], recorded: list[RecordedEvent]) -> AppendResult:
    return AppendResult(
        stream_id=stream_id,
        version=expected_version + len(recorded),
        position=max(positions),
        event_ids=tuple(r.meta.event_id for r in recorded),
    )


async def _stored_result(conn: asyncpg.Connection, context: CommandContext) -> AppendResult | None:
    """The result recorded under the context's idempotency key (None if none); IdempotencyKeyReused
    when the key was recorded for another request."""
    row = await conn.fetchrow(
        "SELECT request_hash, result FROM command_results WHERE idempotency_key = $1", context.idempotency_key
    )
    if row is None:
        return None
    if row["request_hash"] != (context.request_hash or ""):
        raise IdempotencyKeyReused(context.idempotency_key or "")
    # a claimed key is only visible once its transaction committed, with its result
    return from_plain(AppendResult, json.loads(row["result"]))  # type: ignore[no-any-return]
