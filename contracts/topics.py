"""Create the Kafka topics the routing table names (and dead-letter topics), kept forever."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

# Event topics are a log to rebuild views from: Kafka's default 7-day retention would lose history.
KEEP_FOREVER = {"retention.ms": "-1"}


def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet (infinite retention); returns the names created.

    Replicas and min.insync.replicas are the cluster's defaults (default.replication.factor,
    min.insync.replicas), which the operator sets for the cluster's size: the local launcher's
    three-node cluster keeps each partition on 3 nodes and acknowledges a write on 2 (stack/kafka.py).
    """
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    existing = set(admin.list_topics(timeout=15).topics)
    wanted = [NewTopic(topic, partitions, config=KEEP_FOREVER) for topic in topics if topic not in existing]
    created = []
    for topic, future in admin.create_topics(wanted, operation_timeout=15).items() if wanted else []:
        try:
            future.result(timeout=20)
            created.append(topic)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created
