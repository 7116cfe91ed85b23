"""Running the views for real: poison events and the dead-letter topic, rebuilds under load, status."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from confluent_kafka import Producer
from prometheus_client import generate_latest

from contracts.routing import INBOUND
from domain.session.commands import PostUserMessage
from domain.session.service import post_user
from eventstore.relay import Relay
from observability import redisconn
from projections.deadletter import DeadLetters, dlq_topic, read
from projections.pipeline import CHUNK
from projections.queries import ReadModels
from projections.rebuild import Rebuild, RebuildInProgress
from projections.status import statuses
from projections.views import VIEWS, Keys
from tests.support.cli import agentlog
from tests.support.projections import (
    ctx,
    dead_letters,
    project,
    publish,
    run_until,
    runners,
    session_with_messages,
)


def cli_env(servers, codec, redis_prefix: str, **more: str) -> dict[str, str]:
    """The environment `agentlog projections ...` needs to work on this test's topics and keys."""
    return {
        **servers.as_env(),
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_REDIS_PREFIX": redis_prefix,
        "AGENTLOG_PROJECTION_RETRIES": "1",
        "AGENTLOG_PROJECTION_BACKOFF": "0.01",
        **more,
    }


async def test_poison_events_are_dead_lettered_and_replayed_once_fixed(
    pg_schema, servers, own_codec, own_store, redis_prefix, redis_client, reads, tenant
):
    store = own_store
    good = await session_with_messages(store, tenant, 3)
    blocked = await session_with_messages(store, tenant, 1)  # its view key will hold the wrong type
    await publish(store, pg_schema.dsn, pg_schema.name, servers)
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    producer.produce(own_codec.routing.prefix + INBOUND, key=b"junk", value=b"not avro at all")
    producer.flush(10)
    blocked_key = Keys(redis_prefix, "sessions")("session", blocked)
    redis_client.set(blocked_key, "someone else's value")

    [runner] = await project(
        ["sessions"],
        own_codec,
        servers,
        redis_prefix,
        retries=1,
        backoff=0.01,
        until=lambda rs: rs[0].projector.dead_lettered == 3,
    )

    assert (await reads.session(good) or {})["messages"] == "3"  # the view kept going past the poison
    letters = list(read(servers.kafka_bootstrap_servers, dlq_topic(own_codec.routing.prefix, "sessions")))
    assert sorted(letter.event_type for letter in letters) == [
        "?",
        "agentlog.session.MessagePosted",
        "agentlog.session.SessionStarted",
    ]
    junk = next(letter for letter in letters if letter.event_type == "?")
    assert "UndecodableRecord" in junk.error and "wire format" in junk.error
    assert junk.event.value == b"not avro at all" and junk.attempts == 2
    wrong = [letter for letter in letters if letter.event_type != "?"]
    assert all(f"{blocked_key} holds a string, not a hash" in letter.error for letter in wrong)
    assert redis_client.get(blocked_key) == "someone else's value"  # the failed event wrote nothing
    assert runner.applied == 4  # 3 + 1 events of the good session

    env = cli_env(servers, own_codec, redis_prefix)
    listed = agentlog("projections", "dlq", "list", "sessions", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "agentlog.session.SessionStarted" in listed.stdout and "UndecodableRecord" in listed.stdout

    redis_client.delete(blocked_key)  # the cause is fixed
    replayed = agentlog("projections", "dlq", "replay", "sessions", env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 3 dead letter(s) of sessions: 2 applied, 0 already applied, 1 failed again" in replayed.stdout
    assert (await reads.session(blocked) or {})["messages"] == "1"
    pending = agentlog("projections", "dlq", "list", "sessions", env=env)
    assert "UndecodableRecord" in pending.stdout and "SessionStarted" not in pending.stdout  # only the junk is left
    again = agentlog("projections", "dlq", "replay", "sessions", env=env)
    assert "replayed 1 dead letter(s) of sessions: 0 applied, 0 already applied, 1 failed again" in again.stdout


async def test_nothing_moves_past_a_poison_event_until_it_is_set_aside(
    pg_schema, servers, own_codec, own_store, redis_prefix, redis_client, reads, tenant
):
    """Chunks of a batch are pipelined: those sent behind a failing one must do nothing, or a crash while the
    poison event is set aside would leave the stored offsets past it (and the event lost)."""
    blocked = await session_with_messages(own_store, tenant, 1)  # offsets 0 and 1 of the one inbound partition
    good = [await session_with_messages(own_store, tenant, 1) for _ in range(CHUNK)]  # two chunks more
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    keys = Keys(redis_prefix, "sessions")
    redis_client.set(keys("session", blocked), "someone else's value")
    unreachable = Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 300, "log_level": 0})
    out_of_reach = DeadLetters(unreachable, own_codec.routing.prefix)
    [stuck] = runners(["sessions"], own_codec, servers, redis_prefix, out_of_reach, retries=1, backoff=0.01)
    began = time.monotonic()
    await run_until([stuck], lambda _: time.monotonic() - began > 3)  # the dead-letter topic is out of reach

    assert redis_client.hgetall(keys("offsets")) == {}  # not one offset past the poison event
    assert stuck.applied == 0 and await reads.session(good[0]) is None

    [runner] = await project(
        ["sessions"],
        own_codec,
        servers,
        redis_prefix,
        retries=1,
        backoff=0.01,
        until=lambda rs: rs[0].projector.dead_lettered == 2 and rs[0].applied == 2 * CHUNK,
    )
    assert runner.duplicates == 0  # each event applied once, in the run that set the poison aside
    assert redis_client.hgetall(keys("offsets")) == {f"{own_codec.routing.prefix}{INBOUND}:0": str(2 * CHUNK + 2)}
    assert [(await reads.session(s) or {}).get("messages") for s in good] == ["1"] * CHUNK


async def keep_writing(store, tenant: str, sessions: list[uuid.UUID], stop: asyncio.Event) -> int:
    """Post messages round-robin until `stop`; returns how many."""
    written = 0
    while not stop.is_set():
        session = sessions[written % len(sessions)]
        await post_user(
            store,
            ctx(tenant),
            PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"w{written}"),
        )
        written += 1
        await asyncio.sleep(0.002)
    return written


async def view_rows(reads: ReadModels, sessions: list[uuid.UUID]) -> dict[uuid.UUID, dict | None]:
    return {s: await reads.session(s) for s in sessions}


async def message_counts(reads: ReadModels, sessions: list[uuid.UUID]) -> list[int]:
    return [int((row or {}).get("messages", 0)) for row in (await view_rows(reads, sessions)).values()]


async def test_rebuild_while_writes_continue_equals_a_view_built_from_scratch(
    event_store, pg_schema, servers, codec, topics, redis_prefix, reads, tenant, unique
):
    sessions = [await session_with_messages(event_store, tenant, 20) for _ in range(10)]
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    live = runners(["sessions"], codec, servers, redis_prefix)
    stop_live, stop_writes = asyncio.Event(), asyncio.Event()
    live_task = asyncio.create_task(live[0].run(stop_live))
    pool = await asyncpg.create_pool(pg_schema.dsn, server_settings={"search_path": pg_schema.name})
    relay = Relay(pool, servers.kafka_bootstrap_servers, poll_interval=0.05)
    relay_task = asyncio.create_task(relay.run(stop_writes))
    deadline = time.monotonic() + 30
    while await message_counts(reads, sessions) != [20] * len(sessions):
        assert time.monotonic() < deadline, "the live view did not catch up"
        await asyncio.sleep(0.05)
    writer = asyncio.create_task(keep_writing(event_store, tenant, sessions, stop_writes))
    served: list[bool] = []

    async def read_throughout(done: asyncio.Event) -> None:
        while not done.is_set():
            served.append(all((await view_rows(reads, sessions)).values()))
            await asyncio.sleep(0.01)

    rebuilt = asyncio.Event()
    reader = asyncio.create_task(read_throughout(rebuilt))
    client = redisconn.connect(servers.redis_url)
    letters, lock = dead_letters(servers, codec), Keys(redis_prefix, "sessions").shared("rebuilding")
    await client.set(lock, "another rebuild")
    with pytest.raises(RebuildInProgress):
        await Rebuild(
            VIEWS["sessions"], codec, client, servers.kafka_bootstrap_servers, letters, prefix=redis_prefix
        ).run()
    await client.delete(lock)
    done = await Rebuild(
        VIEWS["sessions"], codec, client, servers.kafka_bootstrap_servers, letters, prefix=redis_prefix
    ).run()
    assert not await client.exists(lock)
    await asyncio.sleep(0.3)  # writes go on after the switch too
    rebuilt.set()
    stop_writes.set()
    written = await writer
    await asyncio.gather(reader, relay_task)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    total = 200 + written
    deadline = time.monotonic() + 30
    while sum(await message_counts(reads, sessions)) != total:
        assert time.monotonic() < deadline, "the live view did not catch up after the switch"
        await asyncio.sleep(0.05)
    stop_live.set()
    await live_task
    await pool.close()

    assert written > 0 and done.new_version == 2 and done.events > 0
    assert served and all(served)  # readers were answered throughout
    assert int(await client.get(Keys(redis_prefix, "sessions").shared("current")) or 0) == 2
    assert not [k async for k in client.scan_iter(match=Keys(redis_prefix, "sessions").at(1)("*"))]  # old dropped
    scratch = ReadModels(reads.client, f"{redis_prefix}scratch:")
    rebuilt_rows = await view_rows(reads, sessions)

    async def caught_up(_: object) -> bool:  # the topics hold other tests' events too: count on ours only
        return await view_rows(scratch, sessions) == rebuilt_rows

    await project(["sessions"], codec, servers, scratch.prefix, until=caught_up)  # fails unless they come equal
    await client.aclose()


async def test_rebuild_from_the_event_store_on_the_command_line(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, reads, tenant
):
    session = await session_with_messages(event_store, tenant, 5)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    counted = Keys(redis_prefix, "sessions")("session", session)
    # the shared topics carry other tests' events: wait for this session's own, not for a count
    await project(
        ["sessions"], codec, servers, redis_prefix, until=lambda _: redis_client.hget(counted, "messages") == "5"
    )
    before = await reads.session(session)
    assert before is not None
    env = cli_env(servers, codec, redis_prefix, AGENTLOG_DB_SCHEMA=pg_schema.name)

    done = agentlog("projections", "rebuild", "sessions", "--source", "store", env=env)

    assert done.returncode == 0, done.stderr
    assert "rebuilt sessions" in done.stdout and "readers now use v2, dropped v1" in done.stdout
    assert (await reads.keys("sessions")).version == 2
    assert await reads.session(session) == before
    bad = agentlog("projections", "rebuild", "sessions", "--source", "tape", env=env)
    assert bad.returncode == 2 and "--source 'tape'" in bad.stderr
    unknown = agentlog("projections", "rebuild", "nope", env=env)
    assert unknown.returncode == 2 and "unknown view(s) nope" in unknown.stderr


async def test_status_reports_position_lag_runners_and_metrics(
    own_store, pg_schema, servers, own_codec, redis_prefix, tenant, reads
):
    """Lag is measured against the event store, so events the relay has not published yet count too."""
    event_store, codec = own_store, own_codec
    session = await session_with_messages(event_store, tenant, 3)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    last = await event_store.pool.fetchval("SELECT max(position) FROM events")
    seen = {}

    async def view_statuses() -> list:
        args = (servers.kafka_bootstrap_servers, codec.routing, redis_prefix, [VIEWS["sessions"]])
        return await statuses(reads.client, event_store.pool, *args)

    async def caught_up(rs) -> bool:
        if rs[0].applied < 4:
            return False
        [seen["live"]] = await view_statuses()
        return seen["live"].lag_events == 0

    await project(["sessions"], codec, servers, redis_prefix, until=caught_up)
    for i in range(5):
        await post_user(
            event_store,
            ctx(tenant),
            PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"x{i}"),
        )
    await asyncio.sleep(0.2)
    [stopped] = await view_statuses()  # not even relayed: the store is ahead all the same

    live = seen["live"]
    assert (live.version, live.runners, live.lag_events, live.health) == (1, 1, 0, "ok")
    assert live.position >= last and live.last_event_at is not None
    assert (stopped.runners, stopped.lag_events, stopped.health) == (0, 5, "stopped")
    assert stopped.lag_seconds >= 0.2
    metrics = generate_latest().decode()
    assert 'agentlog_projection_lag_events{projection="sessions"}' in metrics
    assert 'agentlog_projection_events_total{outcome="applied",projection="sessions"}' in metrics
    shown = agentlog(
        "projections",
        "status",
        "sessions",
        env=cli_env(servers, codec, redis_prefix, AGENTLOG_DB_SCHEMA=pg_schema.name),
    )
    assert shown.returncode == 0, shown.stderr
    assert "sessions" in shown.stdout and "stopped" in shown.stdout
