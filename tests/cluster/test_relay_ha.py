"""Relays in high availability: three relay processes of one name, one active; SIGKILL the active one mid-stream
and another takes over within five seconds, with nothing lost, duplicated or reordered on Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from contracts.topics import ensure_topics
from tests.support.kafka import read_until
from tests.support.processes import Processes
from tests.support.published import assert_complete_and_in_stream_order, stored, write

pytestmark = pytest.mark.serial  # active relays killed, a takeover timed: alone, at the end of the suite

RELAYS = ("relay-a", "relay-b", "relay-c")
ACTIVE, STANDING_BY = "relay 'main': active", "relay 'main': standing by"


@pytest.fixture
def relays(servers, event_store, pg_schema, codec, tmp_path: Path):
    ensure_topics(servers.kafka_bootstrap_servers, codec.routing.topics(), 3)
    env = {
        "POSTGRES_DSN": pg_schema.dsn,
        "AGENTLOG_DB_SCHEMA": pg_schema.name,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_RELAY_BATCH_SIZE": "50",
        "AGENTLOG_RELAY_POLL_INTERVAL": "0.1",
    }
    processes = Processes(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


def _said(relays: Processes, name: str, line: str) -> bool:
    """Whether the running instance of relay `name` logged `line`."""
    return name in relays.children and line in relays.output(name)[1]


async def _until(check, what: str, timeout: float) -> float:
    """Seconds until `check()` held (polled every 20 ms); fails naming `what` after `timeout`."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_a_standby_takes_over_from_a_killed_active_relay_within_five_seconds(
    servers, event_store, codec, relays: Processes
):
    for name in RELAYS:
        relays.start(name, "relay")

    def active() -> list[str]:
        return [name for name in RELAYS if _said(relays, name, ACTIVE)]

    def standing_by() -> list[str]:
        return [name for name in RELAYS if _said(relays, name, STANDING_BY)]

    await _until(lambda: len(active()) == 1 and len(standing_by()) == 2, "one relay active, two standing by", 60)
    first = active()[0]

    async def checkpoint() -> int:
        return int(await event_store.pool.fetchval("SELECT coalesce(max(position), 0) FROM relay_checkpoints"))

    streams = [uuid.uuid4() for _ in range(12)]
    writing = asyncio.gather(*(write(event_store, streams, 150) for _ in range(6)))
    while await checkpoint() < 200:  # the active relay is publishing while the writers go on
        await asyncio.sleep(0.01)
    relays.kill(first)
    killed_at = await checkpoint()

    takeover = await _until(lambda: len(active()) == 1, "a standby becoming active", 5)
    await writing
    last = await event_store.pool.fetchval("SELECT max(position) FROM events")
    assert killed_at < last, "the active relay was meant to die mid-stream"
    while await checkpoint() < last:
        await asyncio.sleep(0.05)

    events = await stored(event_store)
    assert len(events) == 900
    messages = read_until(servers.kafka_bootstrap_servers, codec.routing.topics(), set(events), timeout=60)
    assert_complete_and_in_stream_order(messages, events)
    survivors = [name for name in RELAYS if name != first]
    assert [name for name in survivors if _said(relays, name, ACTIVE)] == active(), "exactly one relay took over"
    print(f"took over {takeover:.2f} s after the kill, at position {killed_at} of {last}")


async def test_a_relay_stopped_while_standing_by_exits_cleanly(relays: Processes):
    relays.start("relay-a", "relay")
    await _until(lambda: _said(relays, "relay-a", ACTIVE), "the first relay becoming active", 60)
    relays.start("relay-b", "relay")
    await _until(lambda: _said(relays, "relay-b", STANDING_BY), "the second relay standing by", 60)

    code, out, err = relays.stop("relay-b")

    assert code == 0, err
    assert "relay stopped after publishing 0 event(s)" in out


# the backend holding the relay lock of schema $1 (an advisory lock on a bigint key: its high and low halves)
_HOLDER = """
SELECT l.pid FROM pg_locks l, (SELECT hashtextextended('agentlog.relay:' || $1 || ':main', 0) AS k) h
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = ((h.k >> 32) & 4294967295) AND l.objid::bigint = (h.k & 4294967295)
"""


async def test_an_active_relay_whose_lock_connection_breaks_stands_down_and_nothing_is_doubled(
    servers, event_store, pg_schema, codec, relays: Processes
):
    for name in RELAYS[:2]:
        relays.start(name, "relay")
    await _until(lambda: any(_said(relays, name, STANDING_BY) for name in RELAYS[:2]), "a relay standing by", 60)
    streams = [uuid.uuid4() for _ in range(8)]
    writing = asyncio.gather(*(write(event_store, streams, 100) for _ in range(4)))
    for _ in range(3):  # break the active relay's lock connection while it works (a network fault, a DBA)
        await asyncio.sleep(0.3)
        for row in await event_store.pool.fetch(_HOLDER, pg_schema.name):
            await event_store.pool.execute("SELECT pg_terminate_backend($1)", row["pid"])
    await writing
    last = await event_store.pool.fetchval("SELECT max(position) FROM events")
    while await event_store.pool.fetchval("SELECT coalesce(max(position), 0) FROM relay_checkpoints") < last:
        await asyncio.sleep(0.05)

    events = await stored(event_store)
    messages = read_until(servers.kafka_bootstrap_servers, codec.routing.topics(), set(events), timeout=60)
    assert_complete_and_in_stream_order(messages, events)
    became_active = sum(relays.output(name)[1].count(ACTIVE) for name in RELAYS[:2])
    assert became_active >= 3, "the lock was to change hands (or be taken again) after each break"
