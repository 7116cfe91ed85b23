"""Re-feeding a range of the event store into a view: exactly the range's effects, exactly once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import redis.asyncio as aioredis

from cli.relay_samples import samples
from domain.events import CommandContext
from projections.rebuild import StoreSource, refeed
from projections.views import VIEWS
from tests.support.cli import agentlog
from tests.support.projections import dead_letters


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def test_a_range_goes_into_the_view_once_and_a_wider_one_adds_only_the_rest(
    event_store, pg_schema, codec, servers, redis_prefix, reads
):
    sessions = {}
    for tenant in ("acme", "globex"):
        stream = samples(tenant)[0]  # a session: started, asked, answered, closed
        await event_store.append(stream.stream_id, stream.stream_type, 0, stream.events, ctx(tenant))
        sessions[tenant] = stream.stream_id
    with psycopg.connect(pg_schema.dsn, options=f"-c search_path={pg_schema.name}") as conn:
        (acme_last,) = conn.execute("SELECT max(position) FROM events WHERE tenant_id = 'acme'").fetchone() or (0,)
    client = aioredis.Redis.from_url(servers.redis_url)
    store, letters = StoreSource(pg_schema.dsn, pg_schema.name), dead_letters(servers, codec)

    def into(after: int, upto: int | None):
        return refeed(VIEWS["sessions"], codec, client, letters, store, after=after, upto=upto, prefix=redis_prefix)

    try:
        first = await into(0, acme_last)
        acme, globex = await reads.session(sessions["acme"]), await reads.session(sessions["globex"])
        assert acme is not None and acme["status"] == "closed" and acme["messages"] == "2" and globex is None
        again = await into(0, acme_last)
        wider = await into(0, None)
    finally:
        await client.aclose()

    assert (first.events, first.applied, first.duplicates) == (5, 5, 0)  # the view folds all five
    assert (again.events, again.applied, again.duplicates) == (5, 0, 5)
    assert (wider.events, wider.applied, wider.duplicates) == (10, 5, 5)
    assert (await reads.session(sessions["globex"]) or {}).get("messages") == "2"


def test_the_command_re_feeds_a_range_and_refuses_a_bad_one(event_store, pg_schema, codec, servers, redis_prefix):
    env = {**servers.as_env(), "POSTGRES_DSN": pg_schema.dsn, "AGENTLOG_DB_SCHEMA": pg_schema.name,
           "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix, "AGENTLOG_REDIS_PREFIX": redis_prefix}  # fmt: skip

    done = agentlog("replay", "into", "sessions", "--from", "1", "--json", env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] | {"seconds": 0} == {"view": "sessions", "version": 1, "events": 0, "applied": 0,
                                                          "duplicates": 0, "seconds": 0}  # fmt: skip
    backwards = agentlog("replay", "into", "sessions", "--from", "5", "--to", "2", env=env)
    assert backwards.returncode == 2 and "--to 2 is before --from 5" in backwards.stderr
    unknown = agentlog("replay", "into", "nope", env=env)
    assert unknown.returncode == 2 and "unknown view(s) nope" in unknown.stderr
