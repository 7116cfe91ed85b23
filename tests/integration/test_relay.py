"""The relay on real Postgres and Kafka: concurrent writers, a killed relay, a restarted broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid

import asyncpg
import pytest

from contracts.topics import ensure_topics
from eventstore.relay import Relay
from eventstore.store import CHANNEL_OF_SCHEMA, NOTIFY_GAP
from stack import Stack
from tests.support.cli import AGENTLOG
from tests.support.kafka import read_until
from tests.support.published import assert_complete_and_in_stream_order, stored, write
from tests.support.servers import mode


@pytest.fixture
async def relay_pool(event_store, pg_schema):
    pool = await asyncpg.create_pool(
        pg_schema.dsn, min_size=1, max_size=3, server_settings={"search_path": pg_schema.name}
    )
    yield pool
    await pool.close()


@pytest.fixture
def topics(servers, codec) -> list[str]:
    names = codec.routing.topics()
    ensure_topics(servers.kafka_bootstrap_servers, names, 3)
    return names


async def run_relay(relay: Relay, until) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await until()
    finally:
        stop.set()
        await task


async def test_concurrent_writers_lose_nothing_and_keep_stream_order(servers, event_store, relay_pool, topics):
    relay = Relay(relay_pool, servers.kafka_bootstrap_servers, batch_size=200, poll_interval=0.05)
    streams = [uuid.uuid4() for _ in range(24)]

    async def writers() -> None:
        await asyncio.gather(*(write(event_store, streams, 60) for _ in range(16)))
        while relay.published < 960:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(run_relay(relay, writers), timeout=120)

    events = await stored(event_store)
    assert len(events) == 960
    messages = read_until(servers.kafka_bootstrap_servers, topics, set(events))
    assert_complete_and_in_stream_order(messages, events)


@pytest.mark.parametrize("appends", [1, 30], ids=["one append", "a burst of appends"])
async def test_an_append_wakes_the_relay_of_its_schema_without_waiting_for_the_poll(
    servers, event_store, relay_pool, topics, appends
):
    relay = Relay(relay_pool, servers.kafka_bootstrap_servers, poll_interval=30)  # only a NOTIFY is this quick
    streams = [uuid.uuid4() for _ in range(appends)]

    async def append_once_idle() -> None:
        await asyncio.sleep(1)  # the relay has drained the empty store and sleeps
        await asyncio.gather(*(write(event_store, [stream], 1) for stream in streams))  # a burst: all lanes busy
        async with asyncio.timeout(10):
            while relay.published < appends:
                await asyncio.sleep(0.02)

    await run_relay(relay, append_once_idle)

    messages = read_until(servers.kafka_bootstrap_servers, topics, set(await stored(event_store)))
    assert len(messages) == appends


async def test_events_held_behind_an_older_transaction_are_published_soon_after_it_ends_without_a_notify(
    servers, event_store, relay_pool, topics
):
    """Another process's transaction (any database of the server) that began before an append holds the relay's
    horizon below it, so the append's NOTIFY finds nothing to publish; the relay looks again soon, not at the poll."""
    relay = Relay(relay_pool, servers.kafka_bootstrap_servers, poll_interval=30)
    older = await asyncpg.connect(servers.postgres_dsn)
    ended_at: list[float] = []

    async def append_while_an_older_transaction_runs() -> None:
        await asyncio.sleep(1)  # the relay has drained the empty store and sleeps
        async with older.transaction():
            await older.fetchval("SELECT pg_current_xact_id()")  # it has a transaction id, older than the append's
            await write(event_store, [uuid.uuid4()], 1)  # commits and NOTIFYs: held behind the horizon
            await asyncio.sleep(0.5)
            assert relay.published == 0  # the horizon is the gap safety: nothing above it goes out
        ended_at.append(time.monotonic())  # its end sends no NOTIFY
        async with asyncio.timeout(10):
            while relay.published < 1:
                await asyncio.sleep(0.01)

    try:
        await run_relay(relay, append_while_an_older_transaction_runs)
    finally:
        await older.close()
    assert time.monotonic() - ended_at[0] < 5  # looked again in about 2.5 s at most (doubling from 5 ms)


async def test_a_run_of_appends_wakes_the_relay_at_most_once_per_gap_and_after_the_last_one(event_store):
    heard: list[float] = []

    def hear(*_: object) -> None:
        heard.append(time.monotonic())

    async with event_store.pool.acquire() as listener:
        channel = await listener.fetchval(CHANNEL_OF_SCHEMA)
        await listener.add_listener(channel, hear)
        began = time.monotonic()
        await write(event_store, [uuid.uuid4() for _ in range(4)], 200)  # one append after another
        wrote = time.monotonic()
        async with asyncio.timeout(5):
            while not heard or heard[-1] <= wrote:  # the last append is followed by a wake-up
                await asyncio.sleep(0.01)
        ended = time.monotonic()
        await listener.remove_listener(channel, hear)

    # each NOTIFY is a commit of its own: a steady run of appends sends one per NOTIFY_GAP, not one per append
    assert len(heard) <= (ended - began) / NOTIFY_GAP + 1


async def test_a_snapshot_save_wakes_the_relay_too(event_store):
    """A snapshot save has a transaction id: appends that commit while it runs wait behind the relay's horizon
    (their own NOTIFY found nothing to publish), so its end wakes the relay again instead of leaving them to the
    poll."""
    heard: list[float] = []
    async with event_store.pool.acquire() as listener:
        channel = await listener.fetchval(CHANNEL_OF_SCHEMA)

        def hear(*_: object) -> None:
            heard.append(time.monotonic())

        await listener.add_listener(channel, hear)
        await event_store.recorder.save_snapshot(f"s-{uuid.uuid4()}", "session", 50, {"messages": 50})
        async with asyncio.timeout(2):
            while not heard:
                await asyncio.sleep(0.01)
        await listener.remove_listener(channel, hear)


@pytest.mark.serial
@pytest.mark.skipif(mode() != "native", reason="restarting the broker needs the native launcher")
async def test_a_broker_restart_delays_but_loses_nothing(servers, event_store, relay_pool, topics):
    relay = Relay(relay_pool, servers.kafka_bootstrap_servers, batch_size=100, poll_interval=0.05)
    streams = [uuid.uuid4() for _ in range(8)]

    async def writes_across_a_restart() -> None:
        await write(event_store, streams, 150)
        restart = asyncio.create_task(asyncio.to_thread(Stack().restart, "kafka"))
        await asyncio.gather(restart, *(write(event_store, streams, 50) for _ in range(3)))
        while relay.published < 300:
            await asyncio.sleep(0.1)

    await asyncio.wait_for(run_relay(relay, writes_across_a_restart), timeout=180)

    events = await stored(event_store)
    messages = read_until(servers.kafka_bootstrap_servers, topics, set(events), timeout=60)
    assert_complete_and_in_stream_order(messages, events)


@pytest.mark.faults  # a relay process SIGKILLed
async def test_a_relay_killed_mid_batch_resumes_from_its_checkpoint(servers, event_store, pg_schema, codec, topics):
    streams = [uuid.uuid4() for _ in range(10)]
    await asyncio.gather(*(write(event_store, streams, 250) for _ in range(8)))
    env = {
        **os.environ,
        "POSTGRES_DSN": pg_schema.dsn,
        "AGENTLOG_DB_SCHEMA": pg_schema.name,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_RELAY_BATCH_SIZE": "100",
    }

    async def checkpoint() -> int:
        return int(await event_store.pool.fetchval("SELECT coalesce(max(position), 0) FROM relay_checkpoints"))

    first = subprocess.Popen([str(AGENTLOG), "relay"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while await checkpoint() == 0:
        await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = await checkpoint()
    last = await event_store.pool.fetchval("SELECT max(position) FROM events")
    assert 0 < killed_at < last, "the relay was meant to die mid-stream"

    second = subprocess.Popen([str(AGENTLOG), "relay"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while await checkpoint() < last:
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=30)[0].decode()
    assert second.returncode == 0, output
    assert "relay stopped after publishing" in output

    events = await stored(event_store)
    messages = read_until(servers.kafka_bootstrap_servers, topics, set(events))
    assert_complete_and_in_stream_order(messages, events)


@pytest.mark.serial
@pytest.mark.skipif(mode() != "native", reason="restarting Postgres needs the native launcher")
async def test_a_relay_rides_out_postgres_restarts_and_publishes_what_comes_after(
    servers, event_store, relay_pool, topics, recwarn
):
    """Once wedged for good: the listening connection was released and `is_closed()` raised forever; and once
    its lost connection went back to the pool with the relay's listener on it, which asyncpg warned of."""
    relay = Relay(relay_pool, servers.kafka_bootstrap_servers, batch_size=100, poll_interval=0.05)
    streams = [uuid.uuid4() for _ in range(6)]

    async def writes_across_restarts() -> None:
        await write(event_store, streams, 60)
        for _ in range(2):
            await asyncio.to_thread(Stack().restart, "postgres")
            await write(event_store, streams, 60)
        while relay.published < 180:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(run_relay(relay, writes_across_restarts), timeout=120)

    events = await stored(event_store)
    assert len(events) == 180
    messages = read_until(servers.kafka_bootstrap_servers, topics, set(events))
    assert_complete_and_in_stream_order(messages, events)
    assert (await relay.checkpoint()).position == await event_store.pool.fetchval("SELECT max(position) FROM events")
    assert [str(w.message) for w in recwarn if "listener" in str(w.message)] == []
