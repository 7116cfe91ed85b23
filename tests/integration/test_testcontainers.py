"""The same four servers as throwaway containers, where a Docker engine is reachable."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from stack import Endpoints
from tests.support.kafka import wait_for_event
from tests.support.servers import containers


@pytest.fixture(scope="module")
def container_servers() -> Iterator[Endpoints]:
    with containers() as endpoints:  # skips, saying why, when no Docker engine answers
        yield endpoints


def test_containerised_servers_are_real_and_usable(container_servers: Endpoints):
    with psycopg.connect(container_servers.postgres_dsn) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
    with redis.Redis.from_url(container_servers.redis_url) as client:
        assert client.ping()
    producer = Producer({"bootstrap.servers": container_servers.kafka_bootstrap_servers})
    producer.produce("containers.check", value=b"hello")
    assert producer.flush(30) == 0
    assert wait_for_event(container_servers.kafka_bootstrap_servers, "containers.check").value() == b"hello"
    registry = SchemaRegistryClient({"url": container_servers.schema_registry_url})
    body = {"type": "record", "name": "Check", "fields": [{"name": "a", "type": "string"}]}
    schema_id = registry.register_schema("containers-Check", Schema(json.dumps(body), "AVRO"))
    assert registry.get_schema(schema_id).schema_type == "AVRO"
