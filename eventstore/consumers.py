"""How far the workers' Kafka consumer groups trail their topics: committed offsets against the topics' ends.

The relay's freshness is measured against the store (a relay that stops leaves Kafka looking caught
up); a worker's is measured against Kafka, downstream of the relay. Behind in events: the records on
its topics past its group's committed offsets; behind in seconds: the age of the oldest of them
(contracts/lag.py). A worker commits a record only once every record before it on its partition was
handled, so a worker that is alive but stuck on one record shows behind as surely as one that
stopped. The same `Behind` rule as the relay's says degraded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from contracts.lag import TIMEOUT, partitions_of, trailing
from contracts.routing import WORKER_TOPICS, Routing
from eventstore.queries import Behind

STATUS_GROUP = "agentlog-worker-status"


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
    places = partitions_of(reader, topics)
    if not places:
        return Behind(0, 0.0)
    return Behind(*trailing(reader, places, _committed(admin, group, places)))


def _committed(admin: AdminClient, group: str, places: list[TopicPartition]) -> dict[tuple[str, int], int]:
    request = ConsumerGroupTopicPartitions(group, places)
    answer = admin.list_consumer_group_offsets([request], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    return {(p.topic, p.partition): p.offset for p in answer.topic_partitions}
