"""Each server is real and usable through the shared fixtures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

import psycopg
import pytest
from _pytest.outcomes import Failed
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from stack import Endpoints


def produce(servers: Endpoints, topic: str, *records: tuple[bytes, bytes]) -> None:
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def test_kafka_record_is_produced_and_consumed(servers, new_topic, wait_for_event):
    topic = new_topic("roundtrip")
    marker = uuid.uuid4().hex.encode()
    produce(servers, topic, (b"a", b"first"), (b"b", marker))

    found = wait_for_event(topic, lambda m: m.value() == marker)

    assert found.key() == b"b"
    assert found.offset() == 1


def test_wait_for_event_fails_listing_what_it_saw(servers, new_topic, wait_for_event):
    topic = new_topic("mismatch")
    produce(servers, topic, (b"k", b"not-it"))

    with pytest.raises(Failed, match=r"saw 1:[\s\S]*not-it"):
        wait_for_event(topic, lambda m: m.value() == b"never", timeout=2)


def test_postgres_round_trip_in_an_isolated_schema(pg_schema, servers):
    with pg_schema.connect() as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes VALUES (1, 'hello')")
        assert conn.execute("SELECT body FROM notes WHERE id = 1").fetchone() == ("hello",)
    with psycopg.connect(servers.postgres_dsn) as other:
        tables = other.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'notes' AND table_schema = %s",
            (pg_schema.name,),
        ).fetchone()
        assert tables == (1,)
        visible = other.execute("SELECT to_regclass('public.notes')").fetchone()
        assert visible == (None,)


def test_redis_round_trip_under_a_key_prefix(redis_client, redis_prefix):
    key = f"{redis_prefix}session"
    redis_client.hset(key, mapping={"status": "open", "messages": 2})
    redis_client.hincrby(key, "messages", 1)
    assert redis_client.hgetall(key) == {"status": "open", "messages": "3"}


def _record(*fields: Mapping[str, object]) -> Schema:
    body = {"type": "record", "name": "Note", "namespace": "agentlog.test", "fields": list(fields)}
    return Schema(json.dumps(body), "AVRO")


TEXT = {"name": "text", "type": "string", "doc": "the note"}


def test_registry_registers_an_avro_schema_and_reads_it_back_by_id(registry: SchemaRegistryClient, subject_prefix):
    subject = f"{subject_prefix}notes-agentlog.test.Note"
    schema_id = registry.register_schema(subject, _record(TEXT))

    fetched = registry.get_schema(schema_id)

    assert fetched.schema_type == "AVRO"
    assert json.loads(fetched.schema_str or "{}")["fields"] == [TEXT]
    latest = registry.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (schema_id, 1)


def test_registry_rejects_an_incompatible_schema_under_backward(registry, subject_prefix):
    subject = f"{subject_prefix}notes-agentlog.test.Note"
    registry.register_schema(subject, _record(TEXT))
    registry.set_compatibility(subject, "BACKWARD")
    required = {"name": "author", "type": "string", "doc": "who wrote it"}

    with pytest.raises(SchemaRegistryError) as refused:
        registry.register_schema(subject, _record(TEXT, required))

    assert refused.value.http_status_code == 409
    assert "author" in refused.value.error_message
    assert registry.get_versions(subject) == [1]
    optional = {**required, "type": ["null", "string"], "default": None}
    registry.register_schema(subject, _record(TEXT, optional))
    assert registry.get_versions(subject) == [1, 2]


def test_registry_default_compatibility_is_backward_transitive(registry, subject_prefix):
    subject = f"{subject_prefix}notes-agentlog.test.Note"
    registry.register_schema(subject, _record(TEXT))
    assert registry.get_compatibility() == "BACKWARD_TRANSITIVE"
