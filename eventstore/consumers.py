"""How far the workers' Kafka consumer groups trail their topics: committed offsets against the topics' ends.

The relay's freshness is measured against the store (a relay that stops leaves Kafka looking caught
up); a worker's is measured against Kafka, downstream of the relay. Behind in events: the records on
its topics past its group's committed offsets (from the start of a partition where it committed
none, as a worker starting there would read them); behind in seconds: the age of the oldest of them
by its Kafka timestamp (when the relay published it). A worker commits a record only once every
record before it on its partition was handled, so a worker that is alive but stuck on one record
shows behind as surely as one that stopped. The same `Behind` rule as the relay's says degraded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from contracts.routing import WORKER_TOPICS, Routing
from eventstore.queries import Behind

STATUS_GROUP = "agentlog-worker-status"
TIMEOUT = 5.0  # seconds for each Kafka request; past it the progress cannot be measured


def workers_behind(bootstrap_servers: str, routing: Routing, names: Iterable[str] = WORKER_TOPICS) -> dict[str, Behind]:
    """The workers named (default: every one of WORKER_TOPICS), each with how far its group trails its topics.

    Blocking (run it in a thread from async code); raises KafkaException when Kafka does not answer.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    # reads only, commits nothing
    reader = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": STATUS_GROUP, "enable.auto.commit": False})
    try:
        return {
            name: group_behind(
                admin, reader, routing.worker_group(name), [routing.prefix + t for t in WORKER_TOPICS[name]]
            )
            for name in names
        }
    finally:
        reader.close()


def group_behind(admin: AdminClient, reader: Consumer, group: str, topics: Sequence[str]) -> Behind:
    """The records on `topics` the consumer group `group` has not committed, and the age of the oldest."""
    places = _places(reader, topics)
    if not places:
        return Behind(0, 0.0)
    committed = _committed(admin, group, places)
    events, waiting = 0, []
    for place in places:
        low, high = reader.get_watermark_offsets(place, timeout=TIMEOUT)
        start = committed.get((place.topic, place.partition), OFFSET_INVALID)
        start = low if start < low else start  # none committed: the worker would start at the beginning
        if high > start:
            events += high - start
            waiting.append(TopicPartition(place.topic, place.partition, start))
    if not waiting:
        return Behind(0, 0.0)
    return Behind(events, max(0.0, time.time() - _oldest_timestamp(reader, waiting) / 1000))


def _places(reader: Consumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a topic not created yet holds nothing to trail)."""
    found = reader.list_topics(timeout=TIMEOUT).topics
    return [TopicPartition(topic, p) for topic in topics if topic in found for p in sorted(found[topic].partitions)]


def _committed(admin: AdminClient, group: str, places: list[TopicPartition]) -> dict[tuple[str, int], int]:
    request = ConsumerGroupTopicPartitions(group, places)
    answer = admin.list_consumer_group_offsets([request], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    return {(p.topic, p.partition): p.offset for p in answer.topic_partitions}


def _oldest_timestamp(reader: Consumer, waiting: list[TopicPartition]) -> int:
    """The smallest Kafka timestamp (ms) among the records at the `waiting` offsets, read one per partition."""
    reader.assign(waiting)
    try:
        left = {(p.topic, p.partition) for p in waiting}
        oldest = None
        deadline = time.monotonic() + TIMEOUT
        while left and time.monotonic() < deadline:
            for message in reader.consume(len(left), timeout=0.5):
                place = (message.topic(), message.partition())
                if message.error() is None and place in left:
                    left.discard(place)
                    stamp = message.timestamp()[1]
                    oldest = stamp if oldest is None else min(oldest, stamp)
        if left or oldest is None:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"no record read from {len(left)} partition(s)"))
        return oldest
    finally:
        reader.unassign()
