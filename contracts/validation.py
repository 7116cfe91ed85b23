"""Checks fastavro's validator leaves to the writer: logical types (uuid, date, timestamp, decimal).

fastavro validates logical-type fields only loosely (any string passes as a uuid) or raises
plain errors without naming the field; these checks name `<record>.<field>` like its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

Check = Callable[[Any, Mapping[str, Any]], str | None]


def _uuid(value: Any, _: Mapping[str, Any]) -> str | None:
    if isinstance(value, UUID):
        return None
    try:
        UUID(value)
    except (TypeError, ValueError, AttributeError):
        return "is not a UUID"
    return None


def _date(value: Any, _: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, date) and not isinstance(value, datetime) else "is not a date"


def _timestamp(value: Any, _: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, datetime) and value.tzinfo is not None else "is not a timezone-aware datetime"


def _decimal(value: Any, schema: Mapping[str, Any]) -> str | None:
    if not isinstance(value, Decimal) or not value.is_finite():
        return "is not a finite decimal"
    scale, precision = int(schema.get("scale", 0)), int(schema["precision"])
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        return f"has more than {scale} decimal places"
    if value.adjusted() + 1 > precision - scale:
        return f"does not fit decimal({precision}, {scale})"
    return None


CHECKS: dict[str, Check] = {"uuid": _uuid, "date": _date, "timestamp-millis": _timestamp, "decimal": _decimal}


LogicalField = tuple[tuple[str, ...], dict[str, Any]]


def logical_fields(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[LogicalField]:
    """(path, type schema) of every logical-type field, in this record and records nested in it."""
    for field in schema.get("fields", []):
        path = (*prefix, field["name"])
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict) and branch.get("logicalType") in CHECKS:
                yield path, branch
            elif isinstance(branch, dict) and branch.get("type") == "record":
                yield from logical_fields(branch, path)


def problems(name: str, fields: list[LogicalField], record: Mapping[str, Any]) -> list[str]:
    """What is wrong with the record's logical-type values; nulls are left to the validator."""
    found = []
    for path, schema in fields:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and (reason := CHECKS[schema["logicalType"]](value, schema)):
            found.append(f"{name}.{'.'.join(path)} is <{value!r}>: {reason}")
    return found
