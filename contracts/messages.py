"""Events as message pacts carry them: the Avro record in JSON, and back to what each consumer reads.

A message pact's content is the record `EventCodec.read` gives (ids as text, times as epoch
milliseconds) with the two values JSON has no type for written as text: a `date` as ISO 8601 and a
`decimal` as its digits. `read_content` turns such content back into exactly what `EventCodec.read`
gives the projections, `decode_content` into the RecordedEvent `EventCodec.decode` gives the workers;
so a consumer's code runs in its pact test on the same values it meets on Kafka.
A message is named by its event type and the topic it travels on (`description`): the relay puts
an event type on one topic or two (assistant messages leave on conversation.outbound), and each
pair is one interaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from contracts.convert import from_epoch_ms, from_record
from contracts.schemas import event_contracts
from contracts.validation import logical_fields
from domain.catalog import EVENT_TYPES
from domain.events import RecordedEvent

PROVIDER = "agentlog-relay"
STATE = "the relay has published one event of every type"  # the one provider state of its pacts
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def description(event_type: str, topic: str) -> str:
    """The interaction's name for `event_type` published on `topic` (the topic without any prefix)."""
    return f"{event_type} on {topic}"


def parse_description(text: str) -> tuple[str, str]:
    """(event type, topic) of a `description`; ValueError for any other text."""
    event_type, sep, topic = text.partition(" on ")
    if not sep or event_type not in EVENT_TYPES or not topic:
        raise ValueError(f"{text!r} does not name an agentlog event type and topic (<type> on <topic>)")
    return event_type, topic


def to_content(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a record as `EventCodec.read` gives it (dates and decimals as text); a record as
    `to_record` builds it (ids as UUIDs, times as datetimes) gets the same form."""
    return {key: _plain(value) for key, value in record.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return to_content(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return round((value - _EPOCH).total_seconds() * 1000)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def read_content(event_type: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The record `EventCodec.read` gives for this content: dates and decimals parsed, the rest as it is."""
    return _converted(event_type, content, {"date": date.fromisoformat, "decimal": Decimal})


def decode_content(event_type: str, content: Mapping[str, Any]) -> RecordedEvent:
    """The recorded event `EventCodec.decode` gives for this content (times as datetimes, ids as UUIDs)."""
    parse = {"date": date.fromisoformat, "decimal": Decimal, "timestamp-millis": from_epoch_ms}
    return from_record(EVENT_TYPES[event_type], _converted(event_type, content, parse))


def _converted(event_type: str, content: Mapping[str, Any], parse: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = dict(_copy(content))
    for path, schema in logical_fields(event_contracts()[event_type].schema):
        convert = parse.get(schema["logicalType"])
        parent: Any = record
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if convert is not None and isinstance(parent, dict) and parent.get(path[-1]) is not None:
            parent[path[-1]] = convert(parent[path[-1]])
    return record


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
