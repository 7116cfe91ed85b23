"""Domain events <-> Avro records: dataclasses to plain dicts and back, guided by type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any
from uuid import UUID

from domain.events import DomainEvent, EventMetadata, RecordedEvent


def to_record(recorded: RecordedEvent) -> dict[str, Any]:
    """The Avro record of an event: its fields plus `meta`."""
    record: dict[str, Any] = to_plain(recorded.event)
    record["meta"] = to_plain(recorded.meta)
    return record


def from_record(event_type: type[DomainEvent], record: Mapping[str, Any]) -> RecordedEvent:
    """The domain event (and metadata) a decoded Avro record describes."""
    fields = {key: value for key, value in record.items() if key != "meta"}
    event = from_plain(event_type, fields)
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


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(cls: Any, values: Mapping[str, Any]) -> Any:
    """Rebuild dataclass `cls` from `to_plain` output (or JSON of it: ids, times, amounts as text)."""
    hints = _hints(cls)
    return cls(**{name: _convert(hints[name], value) for name, value in values.items()})


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(inner[0], value)
    if origin in (tuple, frozenset):
        item = typing.get_args(hint)[0]
        return origin(_convert(item, entry) for entry in value)
    if origin in (dict, Mapping):
        return {key: _convert(typing.get_args(hint)[1], entry) for key, entry in value.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_plain(hint, value)
    if isinstance(value, str) and hint in _FROM_TEXT:
        return _FROM_TEXT[hint](value)
    return value


_FROM_TEXT: dict[Any, Callable[[str], Any]] = {
    UUID: UUID,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    Decimal: Decimal,
}
