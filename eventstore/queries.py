"""Reads of the event store that are not aggregate loads: a stream's rows as stored, the head, freshness."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from eventstore.errors import translate_outages
from observability.freshness import freshness

_STREAM = """
SELECT position, version, stream_type, event_type, schema_id, event_id, occurred_at, tenant_id, correlation_id,
       causation_id, payload
FROM events WHERE stream_id = $1 ORDER BY version
"""
# A relay's checkpoint (read by the relay itself, eventstore/relay.py, and by relay_behind below).
RELAY_CHECKPOINT = "SELECT txid::text AS txid, position FROM relay_checkpoints WHERE relay = $1"
# Events the relay has not published: after its checkpoint in (txid, position) order, read on the relay's index
# (events_relay_order). The checkpoint is read first and passed as values: compared with a join or a subquery the
# planner cannot tell how few events follow it and scans the whole table (135 ms at 200,000 events, every 2 s).
_RELAY_BEHIND = """
SELECT count(*) AS events, extract(epoch FROM now() - min(recorded_at)) AS seconds
FROM events WHERE (txid, position) > ($1::text::xid8, $2)
"""

# The newest event of each stream whose newest event is of one type (e.g. tool executions awaiting approval).
_ENDING_WITH = """
SELECT e.stream_id, e.tenant_id, e.event_id, e.correlation_id FROM events e
WHERE e.event_type = $1
AND NOT EXISTS (SELECT 1 FROM events later WHERE later.stream_id = e.stream_id AND later.version > e.version)
"""
# A tenant's events in position order, after a position and up to another.
_TENANT_LOG = """
SELECT position, version, stream_id, stream_type, event_type, schema_id, event_id, occurred_at, tenant_id,
       correlation_id, causation_id, payload
FROM events WHERE tenant_id = $1 AND position > $2 AND position <= $3 ORDER BY position LIMIT $4
"""
# The newest position and the transactions in progress, seen in one snapshot.
_HEAD_AND_SNAPSHOT = "SELECT coalesce(max(position), 0) AS head, pg_current_snapshot()::text AS snapshot FROM events"
_STILL_RUNNING = "SELECT count(*) FROM pg_snapshot_xip($1::text::pg_snapshot) x WHERE pg_xact_status(x) = 'in progress'"


@dataclass(frozen=True)
class Behind:
    """How far a reader of the store (the relay, a view) trails it: events not yet taken, and the age
    in seconds of the oldest of them (0 when it is caught up)."""

    events: int
    seconds: float

    @property
    def status(self) -> str:
        """degraded when the oldest event not taken waited too long (observability.freshness), else ok."""
        return freshness(self.seconds)


@translate_outages
async def stream_rows(pool: asyncpg.Pool, stream_id: str) -> list[asyncpg.Record]:
    """Every stored row of a stream in version order (payloads still encoded)."""
    return list(await pool.fetch(_STREAM, stream_id))


@translate_outages
async def tenant_log(pool: asyncpg.Pool, tenant_id: str, after: int, upto: int, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` of the tenant's stored rows with a position in (after, upto], in position order."""
    return list(await pool.fetch(_TENANT_LOG, tenant_id, after, upto, limit))


@translate_outages
async def relay_behind(pool: asyncpg.Pool, relay: str = "main") -> Behind:
    """What the relay named `relay` has not published yet (everything, before its first checkpoint)."""
    checkpoint = await pool.fetchrow(RELAY_CHECKPOINT, relay)
    row = await pool.fetchrow(_RELAY_BEHIND, *(checkpoint or ("0", 0)))
    return Behind(int(row["events"]), float(row["seconds"] or 0))


@translate_outages
async def streams_ending_with(pool: asyncpg.Pool, event_type: str) -> list[asyncpg.Record]:
    """Every stream whose newest event is of `event_type`: that event's stream_id, tenant_id, event_id and
    correlation_id. Reads every event of the type: for types of few events with an index of their own (migration
    006 has ToolApprovalRequested's); of any other type it reads the whole log."""
    return list(await pool.fetch(_ENDING_WITH, event_type))


@translate_outages
async def settled_position(pool: asyncpg.Pool, poll: float = 0.005, timeout: float | None = None) -> int:
    """The highest position P at which the log is settled: every event at or below P that will ever be
    committed can be read now, so a reader that stops at P and later resumes after it misses nothing.

    Positions are handed out in time order. An event below the newest visible one got its position
    before that one committed, so it is visible already, or rolled back, or in a transaction that was
    in progress then; P is that newest position, returned once those transactions have ended (TimeoutError
    when they run longer than `timeout` seconds: any transaction of the cluster counts, not only appends).
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(_HEAD_AND_SNAPSHOT)
    async with asyncio.timeout(timeout):
        while await pool.fetchval(_STILL_RUNNING, row["snapshot"]):
            await asyncio.sleep(poll)
    return int(row["head"])
