"""How far a reader trails Kafka topics from the offsets it holds: the records past them and the age of the oldest.

A reader's offsets may live in Kafka (a worker's committed group offsets) or elsewhere (a view's offsets hash in
Redis); either way the records past them wait, and the oldest one's Kafka timestamp (when the relay published it)
says how long. A partition the reader holds no offset for is read from its start, as the reader would read it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import stamina
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

TIMEOUT = 5.0  # seconds for each Kafka request; past it the progress cannot be measured

# Answers that mean "ask again shortly": a partition's leader or a group's coordinator being elected, moving or
# loading (a Kafka just started, for a second or so after `agentlog stack up`; a node of a cluster gone). librdkafka
# returns them at once from a watermark or committed-offsets request, and the same request asked again finds them.
MOVING = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
})  # fmt: skip


def _moving(e: Exception) -> bool:
    error = e.args[0] if isinstance(e, KafkaException) and e.args else None
    return isinstance(error, KafkaError) and error.code() in MOVING


asked_again = stamina.retry(
    on=_moving, attempts=None, timeout=TIMEOUT, wait_initial=0.05, wait_max=0.5, wait_jitter=0.05
)  # a request answered "ask again" is, for up to TIMEOUT seconds


def partitions_of(reader: Consumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a topic not created yet holds nothing to trail)."""
    found = reader.list_topics(timeout=TIMEOUT).topics
    return [TopicPartition(topic, p) for topic in topics if topic in found for p in sorted(found[topic].partitions)]


def trailing(
    reader: Consumer, places: Sequence[TopicPartition], held: Mapping[tuple[str, int], int]
) -> tuple[int, float]:
    """(records, seconds): the records of `places` at or past the offsets `held` ((topic, partition) -> next offset
    to read), and the age of the oldest of them (0.0 when none waits). Blocking; KafkaException when Kafka does not
    answer. `reader` only reads (it is assigned and unassigned here), it commits nothing."""
    events, waiting = 0, []
    for place in places:
        low, high = _watermarks(reader, place)
        start = max(held.get((place.topic, place.partition), low), low)  # none held, or trimmed: from the start
        if high > start:
            events += high - start
            waiting.append(TopicPartition(place.topic, place.partition, start))
    if not waiting:
        return 0, 0.0
    return events, max(0.0, time.time() - _oldest_timestamp(reader, waiting) / 1000)


@asked_again
def _watermarks(reader: Consumer, place: TopicPartition) -> tuple[int, int]:
    return reader.get_watermark_offsets(place, timeout=TIMEOUT)


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
