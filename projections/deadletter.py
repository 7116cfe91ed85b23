"""Dead-letter topics: events a view could not apply, kept with the error so they can be replayed.

One topic per view, `<topic prefix>projections.dlq.<view>` (one partition, kept forever). A record
is the original key and value with the original headers plus `dlq.*` headers: the view, the
error, the attempts made, when it failed, and where the event came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from projections.pipeline import Incoming, Projector, headers_of

PREFIX = "dlq."


def dlq_topic(topic_prefix: str, view: str) -> str:
    return f"{topic_prefix}projections.dlq.{view}"


class DeadLetters:
    """Sends poison events of one runner to the dead-letter topic of their view."""

    def __init__(self, producer: Producer, topic_prefix: str) -> None:
        self.producer = producer
        self.topic_prefix = topic_prefix

    async def send(self, item: Incoming, view: str, error: str, attempts: int) -> None:
        """Publish and wait for Kafka's acknowledgement (so the caller may then move past the event)."""
        failures: list[KafkaError] = []
        dlq = {
            "view": view,
            "error": error[:4000],
            "attempts": str(attempts),
            "failed_at": datetime.now(UTC).isoformat(),
            "topic": item.topic,
            "partition": str(item.partition),
            "offset": str(item.offset),
            "position": str(item.position),
        }
        headers: list[tuple[str, str | bytes | None]] = [(n, v) for n, v in item.headers if not n.startswith(PREFIX)]
        headers += [(PREFIX + name, value.encode()) for name, value in dlq.items()]
        self.producer.produce(
            dlq_topic(self.topic_prefix, view),
            key=item.key,
            value=item.value,
            headers=headers,
            on_delivery=lambda e, _m: failures.append(e) if e else None,
        )
        left = await asyncio.to_thread(self.producer.flush, 30)
        if failures or left:
            raise KafkaException(failures[0] if failures else KafkaError(KafkaError._MSG_TIMED_OUT))


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered event: its place in the dead-letter topic, the error, the original event."""

    offset: int
    error: str
    attempts: int
    failed_at: str
    event_type: str
    event: Incoming

    @classmethod
    def from_message(cls, m: Message) -> DeadLetter:
        pairs = headers_of(m)
        headers = {name: value.decode(errors="replace") for name, value in pairs}
        original = tuple((n, v) for n, v in pairs if not n.startswith(PREFIX))
        event = Incoming(
            value=m.value() or b"",
            key=m.key() or b"",
            topic=headers.get("dlq.topic", ""),
            partition=int(headers.get("dlq.partition", "0")),
            offset=int(headers.get("dlq.offset", "0")),
            position=int(headers.get("dlq.position", "0")),
            timestamp_ms=m.timestamp()[1],
            headers=original,
        )
        return cls(
            offset=m.offset() or 0,
            error=headers.get("dlq.error", ""),
            attempts=int(headers.get("dlq.attempts", "0")),
            failed_at=headers.get("dlq.failed_at", ""),
            event_type=headers.get("event_type", "?"),
            event=event,
        )


def read(bootstrap_servers: str, topic: str, start: int = 0) -> Iterator[DeadLetter]:
    """The dead letters from offset `start` up to the end of the topic as it is now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "agentlog-dlq-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        high = end_offset(consumer, topic)
        consumer.assign([TopicPartition(topic, 0, start)])
        offset, idle = start, 0
        while offset < high and idle < 10:
            messages = [m for m in consumer.consume(1000, timeout=1.0) if not m.error()]
            idle = 0 if messages else idle + 1
            for m in messages:
                offset = (m.offset() or 0) + 1
                yield DeadLetter.from_message(m)
    finally:
        consumer.close()


def end_offset(consumer: Consumer, topic: str) -> int:
    """The dead-letter topic's end offset (0 while it does not exist)."""
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return 0
    return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])


@dataclass(frozen=True)
class Replayed:
    """What a replay did with the dead letters it read."""

    read: int
    applied: int
    already_applied: int
    failed_again: int


async def replay(projector: Projector, bootstrap_servers: str, topic: str, mark: int) -> tuple[Replayed, int]:
    """Apply the dead letters from offset `mark` on through `projector` (one that records no offsets:
    the view is past them); those that fail again go back to the topic. Returns the new mark."""
    letters = await asyncio.to_thread(lambda: list(read(bootstrap_servers, topic, mark)))
    before = (projector.applied, projector.duplicates, projector.dead_lettered)
    await projector.project([letter.event for letter in letters])
    applied, duplicates, failed = (
        now - then
        for now, then in zip((projector.applied, projector.duplicates, projector.dead_lettered), before, strict=True)
    )
    return Replayed(len(letters), applied, duplicates, failed), (letters[-1].offset + 1 if letters else mark)
