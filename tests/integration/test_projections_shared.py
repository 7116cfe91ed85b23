"""Runners of one view in several places share its consumer group's partitions and hand them over exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis

from contracts.topics import ensure_topics
from domain.session.commands import PostUserMessage
from domain.session.service import post_user
from eventstore.migrate import migrate
from eventstore.store import PostgresEventStore
from observability import redisconn
from projections.apply import Applier, Delivery
from projections.status import statuses
from projections.views import VIEWS, Keys
from tests.support.projections import ctx, project, publish, runners, session_with_messages

SESSIONS = 30  # keys spread over the three partitions of a topic: each runner is sure to own some of them
PARTITIONS = 3 * len(VIEWS["sessions"].topics)


async def eventually(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.1)


async def test_two_runners_share_a_view_and_one_leaving_hands_its_partitions_over_without_redoing_any(
    pg_schema, servers, own_codec, redis_prefix, tenant
):
    migrate(pg_schema.dsn, pg_schema.name)
    ensure_topics(servers.kafka_bootstrap_servers, own_codec.routing.topics(), 3)
    store = await PostgresEventStore.connect(pg_schema.dsn, own_codec, schema=pg_schema.name)
    client = aioredis.Redis.from_url(servers.redis_url, decode_responses=True)
    first, second = runners(["sessions", "sessions"], own_codec, servers, redis_prefix)
    stops = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r, stop in zip((first, second), stops, strict=True)]
    keys = Keys(redis_prefix, "sessions")

    async def counted(sessions: list[uuid.UUID], messages: int) -> bool:
        counts = [await client.hget(keys("session", s), "messages") for s in sessions]
        return counts == [str(messages)] * len(sessions)

    try:
        await eventually(lambda: _both_own(first, second), "both runners owning partitions")
        sessions = [await session_with_messages(store, tenant, 2) for _ in range(SESSIONS)]
        await publish(store, pg_schema.dsn, pg_schema.name, servers)
        await eventually(lambda: counted(sessions, 2), "the view counting every message")

        stops[0].set()  # the first leaves the group: its partitions move to the second
        await tasks[0]
        await eventually(lambda: _owns(second, PARTITIONS), "the second runner owning every partition")
        for s in sessions:
            command = PostUserMessage(session_id=s, tenant_id=tenant, message_id=uuid.uuid4(), text="more")
            await post_user(store, ctx(tenant), command)
        await publish(store, pg_schema.dsn, pg_schema.name, servers)
        await eventually(lambda: counted(sessions, 3), "the second runner applying the rest")
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)
        await client.aclose()
        await store.close()

    # the other did the work after the hand-over (which of the two owned the partitions the first messages went to
    # before it is the assignor's choice: it balances partition counts over the view's topics, not the data)
    assert second.applied >= SESSIONS
    assert second.applied + first.applied == SESSIONS * 4  # started, two messages, one more: each applied once
    assert first.duplicates + second.duplicates == 0  # the leaver's batches landed before its partitions moved


async def _both_own(*running) -> bool:
    return all([await _owns(r, 1) for r in running])


async def _owns(runner, at_least: int) -> bool:
    return len(await asyncio.to_thread(runner.consumer.assignment)) >= at_least


async def test_a_view_with_a_partition_nobody_reads_is_behind_though_its_newest_position_is_applied(
    pg_schema, servers, own_codec, redis_prefix, tenant
):
    """The store alone cannot tell: the highest position applied is the store's last. The group's offsets can."""
    migrate(pg_schema.dsn, pg_schema.name)
    ensure_topics(servers.kafka_bootstrap_servers, own_codec.routing.topics(), 3)
    store = await PostgresEventStore.connect(pg_schema.dsn, own_codec, schema=pg_schema.name)
    client = aioredis.Redis.from_url(servers.redis_url, decode_responses=True)
    keys = Keys(redis_prefix, "sessions")
    try:
        for _ in range(SESSIONS):
            await session_with_messages(store, tenant, 1)
        await publish(store, pg_schema.dsn, pg_schema.name, servers)
        await project(["sessions"], own_codec, servers, redis_prefix, until=lambda rs: rs[0].applied == 2 * SESSIONS)
        [caught_up] = await _statuses(store, client, servers, own_codec, redis_prefix)
        offsets = await client.hgetall(keys("offsets"))
        unread = max(offsets, key=lambda field: int(offsets[field]))
        # as if the process reading this partition had died before it applied anything there
        await client.hdel(keys("offsets"), unread)
        [behind] = await _statuses(store, client, servers, own_codec, redis_prefix)
    finally:
        await client.aclose()
        await store.close()

    assert (caught_up.lag_events, caught_up.lag_seconds) == (0, 0.0)
    assert behind.position == caught_up.position  # the newest event is applied all the same
    assert behind.lag_events == int(offsets[unread]) and behind.lag_seconds > 0


async def _statuses(store, client, servers, codec, prefix: str) -> list:
    bootstrap = servers.kafka_bootstrap_servers
    return await statuses(client, store.pool, bootstrap, codec.routing, prefix, [VIEWS["sessions"]])


async def test_a_late_batch_from_a_partitions_former_owner_never_moves_its_stored_offset_back(servers, redis_prefix):
    keys = Keys(redis_prefix, "sessions")
    hashes = (keys("offsets"), keys("positions"), keys("state"))
    raw = redisconn.connect(servers.redis_url)
    applier = Applier(raw)

    def skipped(offset: int) -> Delivery:  # an event only passed over: nothing but its offset is stored
        return Delivery("", 1, "s", offset, "t:0", offset + 1, 0, ())

    try:
        await applier.apply(hashes, [skipped(41)])  # the partition's new owner, ahead
        await applier.apply(hashes, [skipped(7)])  # its former owner, paused past its session, lands a batch late

        assert await raw.hget(keys("offsets"), "t:0") == b"42"
    finally:
        await applier.reset()
        await raw.aclose()
