"""How far a reader trails topics (contracts/lag.py), read from a real Kafka: the records past the offsets it
holds and the age of the oldest, from the Kafka timestamps the records were given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from contracts import lag
from tests.support.kafka import fresh_consumer


@pytest.fixture
def reader(servers) -> Iterator[Consumer]:
    consumer = fresh_consumer(servers.kafka_bootstrap_servers, "lag")
    yield consumer
    consumer.close()


def produce(servers, topic: str, ages: dict[int, tuple[float, ...]]) -> float:
    """Records on each partition, their Kafka timestamps `ages` seconds before now; when (time.time())."""
    now = time.time()
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    for partition, seconds in ages.items():
        for age in seconds:
            producer.produce(topic, value=b"x", partition=partition, timestamp=int((now - age) * 1000))
    assert producer.flush(10) == 0
    return now


class Filled(NamedTuple):
    topic: str
    made: float  # when its records were produced (time.time())


@pytest.fixture
def filled(servers, new_topic) -> Filled:
    """A topic of two partitions: p0 holds records 90, 80 and 70 s old, p1 records 40 and 30 s old."""
    name = new_topic("lag", partitions=2)
    return Filled(name, produce(servers, name, {0: (90, 80, 70), 1: (40, 30)}))


def aged(seconds: float, expected: float, since: float) -> bool:
    """`seconds` is `expected`, give or take the time gone by `since` (and a clock read's rounding)."""
    return expected - 0.01 <= seconds <= expected + (time.time() - since) + 0.01


def test_the_partitions_of_the_topics_that_exist_in_order(filled, reader):
    topic = filled.topic
    assert lag.partitions_of(reader, [f"{topic}-not-created", topic]) == [
        TopicPartition(topic, 0),
        TopicPartition(topic, 1),
    ]
    assert lag.partitions_of(reader, []) == []


def test_the_records_past_the_held_offsets_and_the_age_of_the_oldest_waiting(filled, reader):
    topic = filled.topic
    places = lag.partitions_of(reader, [topic])

    events, seconds = lag.trailing(reader, places, {(topic, 0): 1})  # p0 read up to its 80 s old record; p1 not at all

    assert events == 2 + 2
    assert aged(seconds, 80, filled.made)  # p0's 80 s old record is the oldest waiting
    assert reader.assignment() == []  # the reader is left unassigned


def test_a_reader_that_holds_every_offset_trails_nothing(filled, reader):
    topic = filled.topic
    places = lag.partitions_of(reader, [topic])
    assert lag.trailing(reader, places, {(topic, 0): 3, (topic, 1): 2}) == (0, 0.0)
    assert lag.trailing(reader, [], {}) == (0, 0.0)


def test_held_offsets_below_what_kafka_still_keeps_count_from_the_oldest_record_kept(filled, reader, kafka_admin):
    topic = filled.topic
    for future in kafka_admin.delete_records([TopicPartition(topic, 0, 2)]).values():
        future.result(timeout=15)  # p0 keeps its 70 s old record only

    events, seconds = lag.trailing(reader, [TopicPartition(topic, 0)], {(topic, 0): 0})

    assert events == 1
    assert aged(seconds, 70, filled.made)


def test_a_partition_with_no_record_read_in_time_is_a_kafka_timeout(filled, reader, monkeypatch):
    topic = filled.topic
    monkeypatch.setattr(lag, "TIMEOUT", 1.0)
    with pytest.raises(KafkaException) as raised:
        # p0 read from its first record; p1 past its last, where nothing comes: no age from half the partitions
        lag._oldest_timestamp(reader, [TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 2)])
    error = raised.value.args[0]
    assert error.code() == KafkaError._TIMED_OUT
    assert "no record read from 1 partition(s)" in error.str()


def test_a_record_stamped_ahead_of_this_clock_is_never_a_negative_age(servers, new_topic, reader):
    ahead = new_topic("ahead")
    produce(servers, ahead, {0: (-60,)})  # the relay's clock a minute ahead of this one
    assert lag.trailing(reader, [TopicPartition(ahead, 0)], {}) == (1, 0.0)
