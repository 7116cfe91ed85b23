"""Time travel on the real event store: every aggregate's state at each version is what replaying its events
up to there gives (events read back through an export, decoded on their own), by version and by moment;
`agentlog replay state` says the same."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from cli.relay_samples import samples
from contracts.convert import to_plain
from contracts.messages import decode_content
from domain.catalog import DECIDERS
from domain.errors import NotFound
from domain.events import CommandContext
from domain.history import state_at
from replay.export import Exporter, run
from replay.selection import Selection
from tests.support.cli import agentlog


def ctx(tenant: str, at: datetime | None = None) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=at or datetime.now(UTC))


async def replayed(pg_schema, codec, stream_id: str, tmp_path: Path) -> list:
    """The stream's recorded events, exported to JSON Lines and decoded line by line."""
    pool = await asyncpg.create_pool(pg_schema.dsn, min_size=1, max_size=1,
                                     server_settings={"search_path": pg_schema.name})  # fmt: skip
    try:
        await run(pool, Selection(stream_ids=(stream_id,)), Exporter(codec, "jsonl", tmp_path / "stream.jsonl"))
    finally:
        await pool.close()
    lines = [json.loads(line) for line in (tmp_path / "stream.jsonl").read_text().splitlines()]
    return [decode_content(line["event_type"], line["event"]) for line in lines]


async def test_every_aggregate_at_every_version_is_its_events_up_to_there_replayed(event_store, pg_schema, codec,
                                                                                   tmp_path):  # fmt: skip
    streams = samples("acme")
    for stream in streams:
        await event_store.append(stream.stream_id, stream.stream_type, 0, stream.events, ctx("acme"))
    assert {s.stream_type for s in streams} == set(DECIDERS)  # every kind of aggregate

    for stream in streams:
        events = await replayed(pg_schema, codec, stream.stream_id, tmp_path)
        decider = DECIDERS[stream.stream_type]
        for version in range(1, len(events) + 1):
            past = await state_at(event_store, stream.stream_id, version=version, tenant_id="acme")
            assert past.state == decider.fold(e.event for e in events[:version]), (stream.stream_type, version)
            assert (past.version, past.stream_type, past.tenant_id) == (version, stream.stream_type, "acme")


async def test_a_moment_takes_the_events_that_occurred_by_then(event_store):
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    (stream, _) = samples("acme")[:2]  # a session: started, asked, chunk, answered, closed
    for i, event in enumerate(stream.events):
        await event_store.append(stream.stream_id, stream.stream_type, i, [event], ctx("acme", start + timedelta(i)))

    for i in range(len(stream.events)):
        by_moment = await state_at(event_store, stream.stream_id, moment=start + timedelta(days=i, hours=1))
        by_version = await state_at(event_store, stream.stream_id, version=i + 1)
        assert (by_moment.version, by_moment.state) == (i + 1, by_version.state)
    with pytest.raises(NotFound):
        await state_at(event_store, stream.stream_id, moment=start - timedelta(seconds=1))
    with pytest.raises(NotFound):
        await state_at(event_store, stream.stream_id, tenant_id="globex")  # another tenant's: not there for it


async def test_the_command_prints_the_state_and_refuses_what_is_not_a_point(event_store, pg_schema):
    stream = samples("acme")[0]
    await event_store.append(stream.stream_id, stream.stream_type, 0, stream.events, ctx("acme"))
    env = {"POSTGRES_DSN": pg_schema.dsn, "AGENTLOG_DB_SCHEMA": pg_schema.name}

    done = agentlog("replay", "state", stream.stream_id, "--at", "2", "--json", env=env)

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    expected = DECIDERS["session"].fold(stream.events[:2])
    assert shown == {"stream_id": stream.stream_id, "stream_type": "session", "tenant_id": "acme", "version": 2,
                     "state": json.loads(json.dumps(to_plain(expected), default=str))}  # fmt: skip
    plain = agentlog("replay", "state", stream.stream_id, env=env)
    assert plain.returncode == 0 and f"session {stream.stream_id} at version {len(stream.events)}" in plain.stdout
    for args, code, said in [
        (("--at", "yesterday"), 2, "--at 'yesterday' is neither a version nor a moment"),
        (("--at", "0"), 2, "--at 0: versions start at 1"),
        (("--at", "2000-01-01"), 1, f"no events of stream {stream.stream_id!r} at that point"),
    ]:
        refused = agentlog("replay", "state", stream.stream_id, *args, env=env)
        assert (refused.returncode, "Traceback" in refused.stderr) == (code, False), refused.stderr
        assert said in refused.stderr
