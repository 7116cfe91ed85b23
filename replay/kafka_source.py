"""Exporting from Kafka instead of the event store: the event topics from offsets or from a moment.

Each partition is read from its start (the offset given for it, else the first offset at or after
`since`, else its beginning) up to where it ended when the export began, or to the first offset
at or after `until`: a fixed range however long the export takes. Records are the relay's: the
stored payload, with the event's type and global position in headers. The selection's criteria are
applied to each record (type and position from the headers, the rest from the decoded metadata).
Events come per partition in offset order: a stream's events in version order, and the positions of
each partition rising; sort by `position` for the store's global order. The summary's `offsets`
say where each partition stopped: pass them back as `--offset` to go on from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from confluent_kafka import Consumer, Message, TopicPartition

from contracts.codec import EventCodec
from replay.export import Exporter, Summary
from replay.selection import Selection

BATCH = 5000
SILENCE = 30.0  # seconds without a record before a partition's end: the export gives up


def topic_offsets(given: list[str]) -> dict[tuple[str, int], int]:
    """`TOPIC:PARTITION:OFFSET` values as {(topic, partition): offset}; ValueError names a bad one."""
    found = {}
    for value in given:
        topic, _, rest = value.rpartition(":")
        name, _, partition = topic.rpartition(":")
        if not (name and partition.isdigit() and rest.isdigit()):
            raise ValueError(f"{value!r} is not TOPIC:PARTITION:OFFSET")
        found[(name, int(partition))] = int(rest)
    return found


def run_kafka(
    bootstrap_servers: str,
    codec: EventCodec,
    selection: Selection,
    exporter: Exporter,
    offsets: dict[tuple[str, int], int] | None = None,
    started: Callable[[int], None] = lambda total: None,
    advanced: Callable[[int], None] = lambda count: None,
) -> Summary:
    """Export the selection's events from the event topics (see the module)."""
    began = time.monotonic()
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "agentlog-replay-export",
                         "enable.auto.commit": False, "enable.partition.eof": False})  # fmt: skip
    try:
        ranges = _ranges(consumer, codec, selection, offsets or {})
        total = sum(end - start for start, end in ranges.values())
        exporter.start(total)
        started(total)
        summary = Summary(exporter.format, 0, selection.after_position, 0, None)
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, end) in ranges.items() if start < end])
        left = {tp: end for tp, (start, end) in ranges.items() if start < end}
        reached = {tp: start for tp, (start, _) in ranges.items()}
        heard = time.monotonic()
        while left:
            rows = []
            records = consumer.consume(BATCH, timeout=1.0)
            if records:
                heard = time.monotonic()
            elif time.monotonic() - heard > SILENCE:
                stuck = ", ".join(f"{t}:{p}" for t, p in sorted(left))
                raise TimeoutError(f"Kafka sent nothing for {SILENCE:.0f} s before the end of {stuck}")
            for record in records:
                tp = (record.topic() or "", record.partition() or 0)
                if record.error() or tp not in left or (record.offset() or 0) >= left[tp]:
                    continue
                reached[tp] = (record.offset() or 0) + 1
                if reached[tp] >= left[tp]:
                    del left[tp]
                    consumer.pause([TopicPartition(*tp)])
                if (row := _row(record, codec, selection)) is not None:
                    rows.append(row)
            if rows:
                exporter.write(rows)
                summary.events += len(rows)
                summary.last_position = max(summary.last_position or 0, *(r[0] for r in rows))
                summary.to_position = summary.last_position
            advanced(len(rows))
        summary.offsets = {f"{t}:{p}": offset for (t, p), offset in sorted(reached.items())}
    finally:
        consumer.close()
        files = exporter.close()
    summary.files = files
    summary.seconds = time.monotonic() - began
    return summary


def _ranges(
    consumer: Consumer, codec: EventCodec, selection: Selection, offsets: dict[tuple[str, int], int]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(start, end) offsets of every partition of the event topics."""
    metadata = consumer.list_topics(timeout=10).topics
    partitions = [(t, p) for t in codec.routing.topics() if t in metadata for p in metadata[t].partitions]
    unknown = set(offsets) - set(partitions)
    if unknown:
        raise ValueError(f"no event topic partition {':'.join(map(str, sorted(unknown)[0]))}")
    ends = {tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=10) for tp in partitions}
    since, until = _at(consumer, partitions, selection.since), _at(consumer, partitions, selection.until)
    ranges = {}
    for tp in partitions:
        low, high = ends[tp]
        start = offsets.get(tp, since.get(tp, low))
        end = until.get(tp, high)
        ranges[tp] = (min(max(start if start >= 0 else high, low), high), min(end if end >= 0 else high, high))
    return ranges


def _at(consumer: Consumer, partitions: list[tuple[str, int]], moment: datetime | None) -> dict[tuple[str, int], int]:
    """Each partition's first offset whose timestamp is at or after `moment` (-1: none is); {} without one."""
    if moment is None:
        return {}
    ms = int(moment.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(t, p, ms) for t, p in partitions], timeout=10)
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def _row(record: Message, codec: EventCodec, selection: Selection) -> tuple[int, int, bytes] | None:
    """(position, recorded ms, payload) of a record the selection takes, else None."""
    pairs: list[tuple[str, str | bytes | None]] = list(record.headers() or [])  # type: ignore[arg-type]
    headers = {name: _text(value) for name, value in pairs if value is not None}
    position, value = int(headers.get("position", "0")), record.value() or b""
    if position <= selection.after_position or (selection.to_position is not None and position > selection.to_position):
        return None
    if selection.event_types and headers.get("event_type") not in selection.event_types:
        return None
    if selection.stream_ids and (record.key() or b"").decode() not in selection.stream_ids:
        return None
    if selection.tenants or selection.stream_types:
        meta = codec.read(value)[1]["meta"]
        if (selection.tenants and meta["tenant_id"] not in selection.tenants) or (
            selection.stream_types and meta["stream_type"] not in selection.stream_types
        ):
            return None
    return position, record.timestamp()[1], value


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
