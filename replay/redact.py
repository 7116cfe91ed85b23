"""Redaction: the fields named are masked in every event that has them, whatever the export format.

A redacted field keeps its type and shape: every text in it (a string, a map's values, the strings
of an array's records) becomes MASK, so no byte of the original text is left; numbers, booleans and
map keys stay. Only an event's own top-level fields are named (`text`, `attachments`, `metadata`,
`arguments_json`, ...), never its `meta`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[redacted]"


class UnknownField(ValueError):
    """A field to redact that no selected event type has, or one that cannot hold the mask."""


def fields_to_redact(names: Iterable[str], schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """For each event type (by contract name) the asked fields it has; UnknownField names one none has."""
    asked = {n.strip() for n in names if n.strip()}
    found = {
        event_type: frozenset(f["name"] for f in schema["fields"] if f["name"] in asked and f["name"] != "meta")
        for event_type, schema in schemas.items()
    }
    missing = asked - set().union(*found.values())
    if missing:
        raise UnknownField(f"no selected event type has a field {sorted(missing)[0]!r}")
    for event_type, schema in schemas.items():
        for field in schema["fields"]:
            if field["name"] in found[event_type] and not _holds_text(field["type"]):
                raise UnknownField(f"{event_type}.{field['name']} is not free text (an id, time, number or enum)")
    return {event_type: fields for event_type, fields in found.items() if fields}


def _holds_text(schema: Any) -> bool:
    """A plain string somewhere, and nothing that would refuse the mask (an enum, a logical type)."""
    if isinstance(schema, list):
        branches = [_holds_text(b) for b in schema if b != "null"]
        return all(branches) and bool(branches)
    if isinstance(schema, str):
        return schema == "string"
    if schema.get("logicalType") or schema["type"] == "enum":
        return False
    if schema["type"] == "record":
        return any(_holds_text(f["type"]) for f in schema["fields"]) and all(
            _holds_text(f["type"]) or _plain_scalar(f["type"]) for f in schema["fields"]
        )
    if schema["type"] in ("array", "map"):
        return _holds_text(schema["items" if schema["type"] == "array" else "values"])
    return _holds_text(schema["type"])


def _plain_scalar(schema: Any) -> bool:
    """A number or boolean (nullable or not) that redaction leaves as it is."""
    scalars = {"null", "boolean", "int", "long", "float", "double"}
    return all(b in scalars for b in schema) if isinstance(schema, list) else schema in scalars


def redact(record: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """`record` with every text under `fields` masked (the record is changed in place and returned)."""
    for name in fields:
        if name in record:
            record[name] = _masked(record[name])
    return record


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return MASK
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
