"""The stack survives a restart of each server: what was stored is there afterwards."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from domain.session.commands import PostUserMessage
from domain.session.service import post_user
from projections.views import Keys
from stack import Stack
from tests.support.api import eventually
from tests.support.projections import ctx, publish, runners, session_with_messages
from tests.support.servers import mode

pytestmark = [
    pytest.mark.serial,
    pytest.mark.skipif(mode() != "native", reason="restarting servers needs the native launcher"),
]


@pytest.fixture
def stack(servers) -> Stack:
    return Stack()


def test_postgres_keeps_committed_rows_across_a_restart(stack, pg_schema):
    with pg_schema.connect() as conn:
        conn.execute("CREATE TABLE kept (id uuid PRIMARY KEY)")
        row_id = uuid.uuid4()
        conn.execute("INSERT INTO kept VALUES (%s)", (row_id,))
    old_pid = stack.server("postgres").pid()

    stack.restart("postgres")

    assert stack.server("postgres").pid() not in (None, old_pid)
    with pg_schema.connect() as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(row_id,)]


def test_registry_keeps_schemas_across_a_restart(stack, registry: SchemaRegistryClient, subject_prefix, servers):
    subject = f"{subject_prefix}kept-agentlog.test.Kept"
    body = {
        "type": "record",
        "name": "Kept",
        "namespace": "agentlog.test",
        "fields": [{"name": "id", "type": "string"}],
    }
    schema_id = registry.register_schema(subject, Schema(json.dumps(body), "AVRO"))

    stack.restart("registry")

    fresh = SchemaRegistryClient({"url": servers.schema_registry_url})  # no client-side cache
    assert json.loads(fresh.get_schema(schema_id).schema_str or "{}")["name"] == "Kept"
    assert fresh.get_latest_version(subject).schema_id == schema_id


def test_kafka_keeps_records_across_a_restart(stack, servers, new_topic, wait_for_event):
    topic = new_topic("kept")
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(topic, key=b"k", value=b"before-restart")
    assert producer.flush(10) == 0

    stack.restart("kafka")

    assert wait_for_event(topic, lambda m: m.value() == b"before-restart", timeout=20).offset() == 0


def test_redis_keeps_keys_across_a_restart(stack, servers, redis_prefix):
    key = f"{redis_prefix}kept"
    with redis.Redis.from_url(servers.redis_url) as client:
        client.set(key, "value")
        # appendfsync everysec: give the append-only file its second before stopping
        time.sleep(1.1)

    stack.restart("redis")

    with redis.Redis.from_url(servers.redis_url) as client:
        assert client.get(key) == b"value"


async def test_a_projection_rides_out_a_redis_outage_without_loss_or_double_counting(
    stack, event_store, pg_schema, servers, codec, topics, redis_prefix, tenant, caplog
):
    session = await session_with_messages(event_store, tenant, 40)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    count = Keys(redis_prefix, "sessions")("session", session)
    (runner,) = runners(["sessions"], codec, servers, redis_prefix, batch=5)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await until(lambda: client.hget(count, "messages") == "40")
        time.sleep(1.1)  # appendfsync everysec: what was applied is on disk before the stop
        stack.server("redis").stop()
        # written while Redis is down: the runner reads them, cannot apply them, waits, re-reads
        await post_user(
            event_store,
            ctx(tenant),
            PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text="during the outage"),
        )
        await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
        await until(lambda: "re-reading from the stored offsets" in caplog.text)
        await asyncio.to_thread(stack.server("redis").launch)
        await asyncio.to_thread(stack.server("redis").wait_ready)
        await until(lambda: client.hget(count, "messages") == "41")
        await asyncio.sleep(0.5)  # anything applied twice would show up now
        assert client.hget(count, "messages") == "41"
        assert not task.done()  # it kept running throughout
    finally:
        stop.set()
        await task
        client.close()


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_the_api_reads_at_once_after_a_redis_restart(stack, api):
    """The pooled connections Redis dropped are opened again: the first read after a restart is no 503."""
    _, headers = api.tenant("admin")
    with api.client() as client:
        session = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()["session_id"]
        eventually(lambda: client.get(f"/v1/sessions/{session}", headers=headers).status_code == 200)
        time.sleep(1.1)  # appendfsync everysec: the view is on disk before the stop

        stack.restart("redis")

        answers = [client.get(f"/v1/sessions/{session}", headers=headers).status_code for _ in range(20)]
    assert answers == [200] * 20
