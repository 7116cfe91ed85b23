"""Which events an export takes, and reading them from the event store in position order at flat memory.

Reading is keyset-paged on the primary key (`position > last ORDER BY position LIMIT n`), so memory
is one page however large the range, and it stops at the position where the log is settled
(`eventstore.queries.settled_position`): resuming with `--after-position` at the last position
written misses nothing, not even an event whose transaction was still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from eventstore.errors import translate_outages
from eventstore.queries import settled_position

# recorded_at as epoch milliseconds, as the events' own times are
_COLUMNS = "position, (extract(epoch FROM recorded_at) * 1000)::bigint AS recorded_ms, payload"


@dataclass(frozen=True)
class Selection:
    """Events to take; every criterion given must hold (several values of one criterion: any of them)."""

    stream_types: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    stream_ids: tuple[str, ...] = ()
    since: datetime | None = None  # occurred at or after
    until: datetime | None = None  # occurred before
    after_position: int = 0
    to_position: int | None = None  # at most

    def where(self, top: int) -> tuple[str, list[Any]]:
        """The SQL condition (after the position bound `$1`) and its arguments, up to position `top`."""
        conditions, args = ["position <= $2"], list[Any]([top])
        for column, values in (
            ("stream_type", self.stream_types),
            ("event_type", self.event_types),
            ("tenant_id", self.tenants),
            ("stream_id", self.stream_ids),
        ):
            if values:
                args.append(list(values))
                conditions.append(f"{column} = ANY(${len(args) + 1}::text[])")
        for op, moment in ((">=", self.since), ("<", self.until)):
            if moment is not None:
                args.append(moment)
                conditions.append(f"occurred_at {op} ${len(args) + 1}")
        return " AND ".join(conditions), args


@translate_outages
async def bound(pool: asyncpg.Pool, selection: Selection) -> tuple[int, int]:
    """(the last position this export reads to, how many events it takes): the settled position, or
    `to_position` when that is lower."""
    top = await settled_position(pool)
    if selection.to_position is not None:
        top = min(top, selection.to_position)
    condition, args = selection.where(top)
    count = await pool.fetchval(f"SELECT count(*) FROM events WHERE position > $1 AND {condition}",
                                selection.after_position, *args)  # fmt: skip
    return top, int(count)


async def read(
    pool: asyncpg.Pool, selection: Selection, top: int, page: int = 10_000
) -> AsyncIterator[list[asyncpg.Record]]:
    """The selected events after `selection.after_position` up to `top`, a page at a time, in position order;
    each row is (position, recorded_ms: when it was recorded in epoch ms, payload: as stored)."""
    condition, args = selection.where(top)
    query = f"SELECT {_COLUMNS} FROM events WHERE position > $1 AND {condition} ORDER BY position LIMIT {page}"
    rows = await _page(pool, query, selection.after_position, args)
    while rows:
        # the next page is read while this one is written: the server's work overlaps ours
        upcoming = asyncio.ensure_future(_page(pool, query, rows[-1][0], args)) if len(rows) == page else None
        try:
            yield rows
        except BaseException:
            if upcoming:
                upcoming.cancel()
            raise
        rows = await upcoming if upcoming else []


@translate_outages
async def _page(pool: asyncpg.Pool, query: str, last: int, args: list[Any]) -> list[asyncpg.Record]:
    return list(await pool.fetch(query, last, *args))
