"""Each worker's freshness against its topics: caught up once it handled everything, behind by the records that
arrived while it was stopped, degraded once the oldest of them waited past 10 s; in /health and `stack status`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time

import pytest
from confluent_kafka import Producer

from contracts.routing import INBOUND, WORKER_TOPICS
from eventstore.consumers import workers_behind
from eventstore.queries import Behind
from observability.freshness import STALE_SECONDS
from tests.support.cli import agentlog
from tests.support.projections import publish, session_with_messages
from tests.support.servers import mode
from workers.runtime import Delivered, Worker

DETAIL = re.compile(r"(\d+) events, (\d+\.\d) s behind its topics")


async def conversation_worker_catches_up(codec, servers) -> None:
    """Run a worker in the conversation worker's group until it has committed every record of its topics."""
    stop = asyncio.Event()

    async def ignore(_delivered: Delivered) -> None:
        return None

    worker = Worker("conversation", WORKER_TOPICS["conversation"], codec, servers.kafka_bootstrap_servers, ignore)
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + 60
    try:
        while (await measure(codec, servers))["conversation"].events:
            assert time.monotonic() < deadline, "the worker did not commit everything in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task


async def measure(codec, servers) -> dict[str, Behind]:
    return await asyncio.to_thread(workers_behind, servers.kafka_bootstrap_servers, codec.routing)


async def test_a_worker_that_handled_everything_is_fresh_and_one_stopped_is_behind_by_what_arrived_since(
    own_store, pg_schema, servers, own_codec, tenant
):
    await session_with_messages(own_store, tenant, 4)
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    assert (await measure(own_codec, servers))["conversation"].events == 5  # never ran: from the beginning

    await conversation_worker_catches_up(own_codec, servers)
    caught_up = await measure(own_codec, servers)
    assert caught_up == {name: Behind(0, 0.0) for name in WORKER_TOPICS}
    assert all(b.status == "ok" for b in caught_up.values())

    await session_with_messages(own_store, tenant, 2)  # while no worker runs: three events
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    behind = await measure(own_codec, servers)
    assert behind["conversation"].events == 3
    assert 0 < behind["conversation"].seconds < 10 and behind["conversation"].status == "ok"
    assert behind["tools"] == behind["delegation"] == Behind(0, 0.0)


async def test_a_worker_whose_oldest_waiting_record_is_older_than_ten_seconds_is_degraded_until_it_catches_up(
    own_store, pg_schema, servers, own_codec, tenant
):
    await session_with_messages(own_store, tenant, 1)
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    await conversation_worker_catches_up(own_codec, servers)
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    # published a minute ago, as if the worker had been stuck on it that long (the worker skips it: not Avro)
    producer.produce(
        own_codec.routing.prefix + INBOUND, b"\x07not avro", key=b"old", timestamp=int(time.time() - 60) * 1000
    )
    producer.flush(10)

    stuck = (await measure(own_codec, servers))["conversation"]
    assert stuck.events == 1 and 59 < stuck.seconds < 120 and stuck.status == "degraded"

    await conversation_worker_catches_up(own_codec, servers)
    assert (await measure(own_codec, servers))["conversation"] == Behind(0, 0.0)


def test_health_reports_each_worker_against_its_topics(api):
    with api.client() as client:
        body = client.get("/health").json()
    workers = {name: body["freshness"][f"worker:{name}"] for name in WORKER_TOPICS}
    for fresh in workers.values():
        assert fresh["events_behind"] >= 0 and fresh["seconds_behind"] >= 0 and fresh["error"] is None
        assert fresh["status"] == ("degraded" if fresh["seconds_behind"] > 10 else "ok")


@pytest.mark.skipif(mode() != "native", reason="`stack status` needs the launcher's stack (native server mode)")
async def test_stack_status_shows_each_worker_behind_its_topics(own_store, pg_schema, servers, own_codec, tenant):
    await session_with_messages(own_store, tenant, 2)
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    # the running stack's workers, measured on this test's topics (no worker consumes them)
    env = {k: v for k, v in os.environ.items() if k.startswith("AGENTLOG_")} | {
        "AGENTLOG_TOPIC_PREFIX": own_codec.routing.prefix
    }

    done = await asyncio.to_thread(agentlog, "stack", "status", "--json", env=env)

    assert done.returncode in (0, 1), done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    details = {name: DETAIL.search(rows[name]["detail"]) for name in WORKER_TOPICS}
    assert all(details.values()), {name: rows[name] for name in WORKER_TOPICS}
    assert {name: int(found.group(1)) for name, found in details.items() if found} == {
        "conversation": 3,
        "tools": 0,
        "delegation": 0,
    }
    # three events, a moment old: healthy unless this loaded machine took over STALE_SECONDS to measure them
    age = float(details["conversation"].group(2)) if details["conversation"] else 0.0
    assert rows["conversation"]["health"] == ("degraded" if age > STALE_SECONDS else "healthy"), age
    assert age < 60  # published just before, not an old backlog
