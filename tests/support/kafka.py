"""Kafka test helpers: unique topics and waiting for a real record to arrive."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]


def create_topic(admin: AdminClient, name: str, partitions: int = 1) -> str:
    """Create a topic and wait until the broker confirms it."""
    for future in admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10).values():
        future.result(timeout=15)
    return name


def delete_topics(admin: AdminClient, names: list[str]) -> None:
    """Delete topics, ignoring ones that are already gone."""
    if not names:
        return
    for future in admin.delete_topics(names, operation_timeout=10).values():
        with contextlib.suppress(KafkaException):
            future.result(timeout=15)


def describe(message: Message) -> str:
    value = message.value() or b""
    key = message.key() or b""
    return f"[p{message.partition()}@{message.offset()}] key={key[:40]!r} value={value[:80]!r}"


def fresh_consumer(bootstrap_servers: str, purpose: str) -> Consumer:
    """A consumer in a group of its own that commits nothing: reading leaves no trace for other tests."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"{purpose}-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def wait_for_event(
    bootstrap_servers: str,
    topic: str,
    predicate: Callable[[Message], bool] = lambda _m: True,
    timeout: float = 10.0,
) -> Message:
    """Read `topic` from its beginning and return the first record for which predicate holds.

    Fails the test after `timeout` seconds, listing the records it saw, so a mismatch is visible.
    """
    consumer = fresh_consumer(bootstrap_servers, "wait")
    seen: list[str] = []
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = list(metadata.partitions) or [0]
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = consumer.poll(min(left, 0.5))
            if message is None or message.error():
                continue
            if predicate(message):
                return message
            seen.append(describe(message))
    finally:
        consumer.close()
    shown = "\n  ".join(seen[-20:]) or "(no records)"
    pytest.fail(f"no matching record on {topic!r} within {timeout} s; saw {len(seen)}:\n  {shown}")


def header(message: Message, name: str) -> str:
    """A record header's value as text ("" when absent)."""
    value = dict(message.headers() or []).get(name) or b""
    return value.decode() if isinstance(value, bytes) else str(value)


def read_until(bootstrap_servers: str, topics: list[str], wanted: set[str], timeout: float = 30.0) -> list[Message]:
    """Read every partition of `topics` from the beginning until every event id in `wanted` was seen.

    Returns the records whose `event_id` header is wanted, in the order each partition holds them
    (duplicates included). Fails the test, saying how many are missing, after `timeout` seconds.
    """
    consumer = fresh_consumer(bootstrap_servers, "read")
    found: list[Message] = []
    missing = set(wanted)
    try:
        metadata = consumer.list_topics(timeout=10).topics
        consumer.assign([TopicPartition(t, p, 0) for t in topics if t in metadata for p in metadata[t].partitions])
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=0.5):
                event_id = header(message, "event_id")
                if not message.error() and event_id in wanted:
                    found.append(message)
                    missing.discard(event_id)
    finally:
        consumer.close()
    if missing:
        pytest.fail(f"{len(missing)} of {len(wanted)} events never reached {topics} within {timeout} s")
    return found
