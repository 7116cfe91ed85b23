"""Group reads (eventstore/reads.py) on real Postgres: concurrent fresh reads share statements and each asker
gets exactly its stream's events after its version; a failure reaches every asker; one giving up spoils nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from domain.session.events import MessagePosted, SessionStarted
from eventstore.reads import GroupReader
from tests.integration.test_event_store import context, posted, started


async def _streams(event_store, count: int, events: int) -> list[str]:
    ids = []
    for _ in range(count):
        session = uuid.uuid4()
        stream = f"session-{session}"
        await event_store.append(stream, "session", 0, [started(session)], context())
        for version in range(1, events):
            await event_store.append(stream, "session", version, [posted(session, f"m{version}")], context())
        ids.append(stream)
    return ids


async def test_concurrent_reads_each_get_their_streams_events_after_their_version(event_store):
    streams = await _streams(event_store, 5, 4)
    asks = [(stream, after) for stream in streams for after in (0, 2, 4)] * 2  # every pair asked twice
    asks.append(("session-nobody", 0))

    answers = await asyncio.gather(*(event_store.recorder.read_after(stream, after) for stream, after in asks))

    for (stream, after), answer in zip(asks, answers, strict=True):
        expected = [(v, e.event) for v, e in enumerate(await event_store.read_stream(stream), start=1) if v > after]
        assert answer == expected
    assert [type(event) for _, event in answers[0]] == [SessionStarted, MessagePosted, MessagePosted, MessagePosted]


async def test_a_failed_statement_reaches_every_asker_and_the_next_reads_work(event_store, pg_schema):
    pool = await asyncpg.create_pool(pg_schema.dsn, min_size=1, max_size=2, server_settings={"search_path": "nowhere"})
    reader = GroupReader(pool, event_store.codec.decode)
    try:
        failed = await asyncio.gather(*(reader.after(f"s-{i}", 0) for i in range(6)), return_exceptions=True)
        assert all(isinstance(e, asyncpg.UndefinedTableError) for e in failed)  # no events table on that path
    finally:
        await pool.close()
    [stream] = await _streams(event_store, 1, 2)
    assert len(await event_store.recorder.read_after(stream, 0)) == 2


async def test_an_asker_that_gives_up_does_not_cancel_the_others(event_store):
    [stream] = await _streams(event_store, 1, 3)
    reader = GroupReader(event_store.pool, event_store.codec.decode)
    impatient = asyncio.ensure_future(reader.after(stream, 1))
    patient = asyncio.ensure_future(reader.after(stream, 1))  # the same read: shares the impatient one's answer
    impatient.cancel()

    assert [version for version, _ in await patient] == [2, 3]
    with pytest.raises(asyncio.CancelledError):
        await impatient
