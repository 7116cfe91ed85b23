"""How far a reader trails topics (contracts/lag.py), read from a real Kafka: the records past the offsets it
holds and the age of the oldest, from the Kafka timestamps the records were given."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from contracts import lag
from tests.support.kafka import fresh_consumer

NOW_MS = int(time.time() * 1000)


@pytest.fixture
def reader(servers) -> Iterator[Consumer]:
    consumer = fresh_consumer(servers.kafka_bootstrap_servers, "lag")
    yield consumer
    consumer.close()


@pytest.fixture
def topic(servers, new_topic) -> str:
    """Two partitions: p0 holds records 90, 80 and 70 s old, p1 records 40 and 30 s old."""
    name = new_topic("lag", partitions=2)
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    for partition, ages in ((0, (90, 80, 70)), (1, (40, 30))):
        for age in ages:
            producer.produce(name, value=b"x", partition=partition, timestamp=NOW_MS - age * 1000)
    assert producer.flush(10) == 0
    return name


def test_the_partitions_of_the_topics_that_exist_in_order(topic, reader):
    assert lag.partitions_of(reader, [f"{topic}-not-created", topic]) == [
        TopicPartition(topic, 0),
        TopicPartition(topic, 1),
    ]
    assert lag.partitions_of(reader, []) == []


def test_the_records_past_the_held_offsets_and_the_age_of_the_oldest_waiting(topic, reader):
    places = lag.partitions_of(reader, [topic])

    events, seconds = lag.trailing(reader, places, {(topic, 0): 1})  # p0 read up to its 80 s old record; p1 not at all

    assert events == 2 + 2
    assert 80 <= seconds < 80 + 30  # p0's 80 s old record is the oldest waiting (test time aside)
    assert reader.assignment() == []  # the reader is left unassigned


def test_a_reader_that_holds_every_offset_trails_nothing(topic, reader):
    places = lag.partitions_of(reader, [topic])
    assert lag.trailing(reader, places, {(topic, 0): 3, (topic, 1): 2}) == (0, 0.0)
    assert lag.trailing(reader, [], {}) == (0, 0.0)


def test_held_offsets_below_what_kafka_still_keeps_count_from_the_oldest_record_kept(topic, reader, kafka_admin):
    for future in kafka_admin.delete_records([TopicPartition(topic, 0, 2)]).values():
        future.result(timeout=15)  # p0 keeps its 70 s old record only

    events, seconds = lag.trailing(reader, [TopicPartition(topic, 0)], {(topic, 0): 0})

    assert events == 1
    assert 70 <= seconds < 70 + 30


def test_no_record_read_in_time_is_a_kafka_timeout(topic, reader, monkeypatch):
    monkeypatch.setattr(lag, "TIMEOUT", 1.0)
    with pytest.raises(KafkaException) as raised:
        lag._oldest_timestamp(reader, [TopicPartition(topic, 1, 2)])  # past p1's last record: nothing comes
    error = raised.value.args[0]
    assert error.code() == KafkaError._TIMED_OUT
    assert "no record read from 1 partition(s)" in error.str()
