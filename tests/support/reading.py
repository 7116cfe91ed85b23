"""What a client of agentlog reads: a session's Server-Sent Events, and a topic's Avro records through the registry
with confluent-kafka's own AvroDeserializer (no code of ours decodes them)."""

from __future__ import annotations

import json
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import stamina
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from contracts.errors import RegistryUnavailable, UndecodableRecord
from contracts.registry_calls import registry_call

Update = tuple[str, dict[str, Any]]  # (event kind, its data)


def sse(
    client: httpx.Client, headers: dict[str, str], session: str, done: Callable[[list[Update]], bool], timeout=60.0
) -> list[Update]:
    """The session's SSE events (`message`, `chunk`, `cancelled`, ...) from its start, read until `done(seen)`."""
    seen: list[Update] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/v1/sessions/{session}/stream", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200, stream.read()
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line.removeprefix("data: "))))
                if done(seen):
                    return seen
            assert time.monotonic() < deadline, f"the stream of {session} did not show it within {timeout} s: {seen}"
    raise AssertionError(f"the stream of {session} ended first: {seen}")


class AvroTopics:
    """Reads whole topics as a consumer of agentlog's events would: the Confluent wire format decoded with
    confluent-kafka's AvroDeserializer, the writer's schema fetched from the registry by its id."""

    def __init__(self, bootstrap_servers: str, registry_url: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        # an answer that does not come is a timeout, tried again (once a fetch hung 300 s on a loaded machine)
        self.registry = SchemaRegistryClient({"url": registry_url, "timeout": 10})
        self.deserializer = AvroDeserializer(self.registry)

    def records(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """Every record of `topic` up to its end now, as (record name, decoded value), in partition order."""
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap_servers, "group.id": f"read-{uuid.uuid4().hex}",
             "enable.auto.commit": False}
        )  # fmt: skip
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
            left = {p for p, end in ends.items() if end > 0}
            consumer.assign([TopicPartition(topic, p, 0) for p in left])
            found: list[tuple[str, dict[str, Any]]] = []
            deadline = time.monotonic() + 30
            while left and time.monotonic() < deadline:
                for message in consumer.consume(1000, timeout=0.5):
                    if message.error() or message.partition() not in left:
                        continue
                    found.append(self._decoded(topic, message.value() or b""))
                for at in consumer.position([TopicPartition(topic, p) for p in left]):
                    if at.offset >= ends[at.partition]:  # read to the end (past any control records)
                        left.discard(at.partition)
            assert not left, f"{topic} could not be read to its end"
            return found
        finally:
            consumer.close()

    def _decoded(self, topic: str, value: bytes) -> tuple[str, dict[str, Any]]:
        (schema_id,) = struct.unpack(">I", value[1:5])  # magic byte, then the writer schema's id
        for attempt in stamina.retry_context(on=RegistryUnavailable, attempts=5, wait_initial=0.1):
            # once fetched, the client answers from its cache (the deserializer's lookup too)
            with attempt, registry_call(lambda: UndecodableRecord(f"schema id {schema_id} is unknown")):
                schema = self.registry.get_schema(schema_id)
        name = json.loads(schema.schema_str or "{}")["name"]
        return name, self.deserializer(value, SerializationContext(topic, MessageField.VALUE))
