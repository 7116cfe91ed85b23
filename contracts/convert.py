"""Domain events <-> Avro records: dataclasses to plain dicts and back, guided by type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any
from uuid import UUID

from domain.events import DomainEvent, EventMetadata, RecordedEvent

Convert = Callable[[Any], Any]
Build = Callable[[dict[str, Any]], Any]
Fields = tuple[tuple[str, Convert], ...]


def to_record(recorded: RecordedEvent) -> dict[str, Any]:
    """The Avro record of an event: its fields plus `meta`."""
    record: dict[str, Any] = to_plain(recorded.event)
    record["meta"] = to_plain(recorded.meta)
    return record


def from_record(event_type: type[DomainEvent], record: Mapping[str, Any]) -> RecordedEvent:
    """The domain event (and metadata) a decoded Avro record describes."""
    fields = {key: value for key, value in record.items() if key != "meta"}
    kind: Any = event_type
    event = _builder(kind)(fields)
    return RecordedEvent(meta=from_plain(EventMetadata, record["meta"]), event=event)


_SCALARS = (str, int, float, bool, type(None), UUID, datetime, date, Decimal, bytes)


def to_plain(value: Any) -> Any:
    """Dataclasses as dicts, enums as values, tuples and sets as lists; other values unchanged."""
    if isinstance(value, _SCALARS):  # the common case first: this runs for every field of every event
        return value
    if isinstance(value, Enum):
        return value.value
    kind: Any = type(value)
    fields = _field_names(kind)
    if fields is not None:
        return {name: to_plain(getattr(value, name)) for name in fields}
    if isinstance(value, tuple | list | set | frozenset):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


@cache
def _field_names(cls: Any) -> tuple[str, ...] | None:
    """A dataclass's field names (computed once per class), None for other types."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def from_plain(cls: Any, values: Mapping[str, Any]) -> Any:
    """Rebuild dataclass `cls` from `to_plain` output (or JSON of it: ids, times, amounts as text)."""
    return _builder(cls)(dict(values.items()))  # items(): a value that is no mapping fails as before


# Decoding runs for every field of every event, so the type hints are read once per class and
# compiled into converters; a field whose value needs no conversion costs no call at all.
_FROM_TEXT: dict[Any, Callable[[str], Any]] = {
    UUID: UUID,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    Decimal: Decimal,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(value: int) -> datetime:
    """A time as Avro's timestamp-millis writes it (what `EventCodec.read()` gives), exactly."""
    return _EPOCH + timedelta(milliseconds=value)


def to_epoch_ms(moment: datetime) -> int:
    """A timezone-aware time as Avro's timestamp-millis, as fastavro writes it (microseconds cut, not rounded)."""
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


# Times also arrive as epoch milliseconds (Avro read as written): parsed when an int.
_FROM_INT: dict[Any, Callable[[int], Any]] = {datetime: from_epoch_ms}


@cache
def _builder(cls: Any) -> Build:
    """Builds `cls` from a dict of its fields (converted in place); an unknown name raises KeyError."""
    hints = typing.get_type_hints(cls)
    hints_of = {name: _unwrap(hint) for name, hint in hints.items()}
    texts, others = _plan(hints)

    def build(values: dict[str, Any]) -> Any:
        for name, parse in texts:
            if isinstance(value := values.get(name), str):
                values[name] = parse(value)
            elif type(value) is int and (from_int := _FROM_INT.get(hints_of[name])):
                values[name] = from_int(value)
        for name, convert in others:
            if (value := values.get(name)) is not None:
                values[name] = convert(value)
        try:
            return cls(**values)
        except TypeError:  # names are checked only on failure, as checking each call costs time
            if unknown := [name for name in values if name not in hints]:
                raise KeyError(unknown[0]) from None
            raise

    return build


def _plan(hints: dict[str, Any]) -> tuple[Fields, Fields]:
    """The fields parsed only when given as text, and the fields converted whenever not None."""
    texts, others = [], []
    for name, hint in hints.items():
        # Ids, times and amounts arrive as objects from Avro and as text from JSON: parse only text.
        if parse := _FROM_TEXT.get(_unwrap(hint)):
            texts.append((name, parse))
        elif convert := _converter(hint):
            others.append((name, convert))
    return tuple(texts), tuple(others)


def _unwrap(hint: Any) -> Any:
    """The hint an Optional or Union stands for: its first member that is not None."""
    while typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _converter(hint: Any) -> Convert | None:
    """How to convert a value (not None) of this hint; None when it is used as it is."""
    hint = _unwrap(hint)
    origin = typing.get_origin(hint)
    if origin in (tuple, frozenset):
        return _collection(origin, _converter(typing.get_args(hint)[0]))
    if origin in (dict, Mapping):
        return _mapping(_converter(typing.get_args(hint)[1]))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _nested(hint)
    if hint in _FROM_TEXT:
        return _text(hint)
    return None


def _collection(kind: Callable[[Any], Any], item: Convert | None) -> Convert:
    if item is None:
        return kind
    return lambda value: kind([None if entry is None else item(entry) for entry in value])


def _mapping(item: Convert | None) -> Convert:
    if item is None:
        return dict
    return lambda value: {key: None if entry is None else item(entry) for key, entry in value.items()}


def _nested(cls: Any) -> Convert:
    # Looked up on use, not now: a dataclass may refer to itself.
    return lambda value: from_plain(cls, value)


def _text(hint: Any) -> Convert:
    parse, from_int = _FROM_TEXT[hint], _FROM_INT.get(hint)

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return parse(value)
        return from_int(value) if from_int and type(value) is int else value

    return convert
