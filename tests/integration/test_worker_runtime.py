"""The workers' runtime on real Kafka: every event handled, in order per stream, committed, and the poison
skipped without stopping the worker."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from confluent_kafka import Producer

from contracts.routing import INBOUND
from tests.support.projections import publish, session_with_messages
from workers.runtime import EVENTS, Delivered, Worker, id_for, key_for


async def run_until(worker: Worker, done, timeout: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "the worker did not handle everything in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_a_worker_handles_each_event_once_in_stream_order_and_commits(
    own_store, pg_schema, servers, own_codec, tenant
):
    sessions = [await session_with_messages(own_store, tenant, 5) for _ in range(4)]
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    seen: dict[str, list[int]] = defaultdict(list)

    async def handle(delivered: Delivered) -> None:
        await asyncio.sleep(0.001)  # let the streams interleave
        seen[delivered.recorded.meta.stream_id].append(delivered.recorded.meta.stream_version)

    worker = Worker("test", [INBOUND], own_codec, servers.kafka_bootstrap_servers, handle, batch=7)
    await run_until(worker, lambda: sum(map(len, seen.values())) == 24)

    assert dict(seen) == {str(s): [1, 2, 3, 4, 5, 6] for s in sessions}

    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    producer.produce(own_codec.routing.prefix + INBOUND, b"\x07not avro", key=b"junk")
    producer.flush(10)
    later = await session_with_messages(own_store, tenant, 1)
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    skipped = EVENTS.labels("test", "undecodable")._value.get()
    again = Worker("test", [INBOUND], own_codec, servers.kafka_bootstrap_servers, handle)
    await run_until(again, lambda: str(later) in seen)

    assert seen[str(later)] == [1, 2]  # the group's committed offsets: nothing before them came again
    assert sum(map(len, seen.values())) == 26
    assert EVENTS.labels("test", "undecodable")._value.get() == skipped + 1


def test_keys_and_ids_derived_from_a_cause_are_stable_and_distinct_per_step():
    import uuid

    cause = uuid.uuid4()
    assert key_for(cause, "reply") == key_for(cause, "reply") != key_for(cause, "charge")
    assert id_for(cause, "tool:1") == id_for(cause, "tool:1") != id_for(cause, "tool:2")
