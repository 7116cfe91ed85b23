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

from confluent_kafka import Consumer, KafkaException, TopicPartition

from contracts.lag import TIMEOUT, asked_again, partitions_of, trailing
from contracts.routing import WORKER_TOPICS, Routing
from eventstore.queries import Behind


def workers_behind(bootstrap_servers: str, routing: Routing, names: Iterable[str] = WORKER_TOPICS) -> dict[str, Behind]:
    """The workers named (default: every one of WORKER_TOPICS), each with how far its group trails its topics.

    Blocking (run it in a thread from async code); raises KafkaException when Kafka does not answer.
    """
    readers = {name: group_reader(bootstrap_servers, routing.worker_group(name)) for name in names}  # connect at once
    try:
        return {
            name: group_behind(reader, [routing.prefix + t for t in WORKER_TOPICS[name]])
            for name, reader in readers.items()
        }
    finally:
        for reader in readers.values():
            reader.close()


def group_reader(bootstrap_servers: str, group: str) -> Consumer:
    """A consumer of the group `group` that reads its committed offsets and never joins it (no subscription: it is
    assigned partitions only to read the oldest waiting record's timestamp) nor commits.

    Not `AdminClient.list_consumer_group_offsets`: librdkafka (2.16) answers an OffsetFetch error that calls for a
    new coordinator (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE: a coordinator moving, a cluster starting) by
    queueing an op on the client's consumer group, which an admin client does not have (rd_kafka_handle_OffsetFetch):
    a SIGSEGV of the whole process.
    """
    return Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group, "enable.auto.commit": False})


def group_behind(reader: Consumer, topics: Sequence[str]) -> Behind:
    """The records on `topics` the group of `reader` (a group_reader) has not committed, and the age of the oldest."""
    places = partitions_of(reader, topics)
    if not places:
        return Behind(0, 0.0)
    return Behind(*trailing(reader, places, _committed(reader, places)))


@asked_again
def _committed(reader: Consumer, places: list[TopicPartition]) -> dict[tuple[str, int], int]:
    found = reader.committed(places, timeout=TIMEOUT)
    if failed := next((p.error for p in found if p.error is not None), None):
        raise KafkaException(failed)
    return {(p.topic, p.partition): p.offset for p in found}
