"""The stack survives a restart of each server: what was stored is there afterwards."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from stack import Stack
from tests.support.servers import mode

pytestmark = pytest.mark.skipif(mode() != "native", reason="restarting servers needs the native launcher")


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
