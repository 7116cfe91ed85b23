"""A projection whose registry is out: it waits, dead-letters nothing, and applies the events once it answers."""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from contracts.codec import EventCodec
from projections.deadletter import dlq_topic, read
from tests.support.projections import publish, runners, session_with_messages
from tests.support.tcp import gateway


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("outage", ["connection refused", "503 from a gateway"])
async def test_events_read_while_the_registry_is_out_are_applied_once_it_answers_and_never_dead_lettered(
    outage, pg_schema, servers, own_codec, own_store, redis_prefix, reads, tenant, caplog
):
    session = await session_with_messages(own_store, tenant, 3)
    await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
    registry = urlsplit(servers.schema_registry_url)
    caplog.set_level(logging.WARNING, logger="agentlog.projections")
    with gateway((registry.hostname or "", registry.port or 80)) as port:  # closed until told otherwise
        if outage.startswith("503"):
            port.fail()
        url = f"{registry.scheme}://127.0.0.1:{port.port}{registry.path}"
        codec = EventCodec(SchemaRegistryClient({"url": url, "max.retries": 0}), own_codec.routing)  # nothing cached
        [runner] = runners(["sessions"], codec, servers, redis_prefix, retries=1, backoff=0.01)
        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))
        try:

            async def outage_met() -> bool:  # it logged the outage twice (or set the events aside)
                assert not running.done(), running.result()
                warned = [
                    r for r in caplog.records if r.name == "agentlog.projections" and r.levelno == logging.WARNING
                ]
                return len(warned) >= 2 or runner.projector.dead_lettered > 0

            await until(outage_met, 30, "the runner never met the registry outage")
            assert runner.projector.dead_lettered == 0
            assert "RegistryUnavailable" in caplog.text and runner.applied == 0
            assert await reads.session(session) is None

            port.forward()  # the registry answers again

            async def all_applied() -> bool:
                return (await reads.session(session) or {}).get("messages") == "3"

            await until(all_applied, 30, "the events never landed once the registry answered")
        finally:
            stop.set()
            await running

    assert runner.projector.dead_lettered == 0 and runner.applied == 4  # started + 3 messages, each once
    letters = await asyncio.to_thread(
        lambda: list(read(servers.kafka_bootstrap_servers, dlq_topic(own_codec.routing.prefix, "sessions")))
    )
    assert letters == []
