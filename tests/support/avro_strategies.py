"""Hypothesis strategies for valid Python records of a self-contained Avro schema (as fastavro writes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

INT32 = 2**31
INT64 = 2**63
# Whole milliseconds between 1970 and 2100, so timestamp-millis round-trips exactly.
EARLIEST, LATEST = datetime(1970, 1, 1), datetime(2100, 1, 1)

LOGICAL = ("uuid", "timestamp-millis", "date", "decimal")  # others are read as their underlying type

Named = dict[str, st.SearchStrategy[Any]]

PRIMITIVES: Named = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-INT32, INT32 - 1),
    "long": st.integers(-INT64, INT64 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(),
    "bytes": st.binary(),
}


def records(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid records for a record schema; named types are resolved by full name as they are met."""
    return _strategy(schema, {}, namespace="")


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _strategy(schema: Any, named: Named, namespace: str) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        return st.one_of([_strategy(branch, named, namespace) for branch in schema])
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return PRIMITIVES[schema]
        return named[_full_name(schema, namespace)]
    if schema.get("logicalType") in LOGICAL:
        return _logical(schema)
    kind = schema["type"]
    if kind == "record":
        return _record(schema, named, namespace)
    if kind == "enum":
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        named[full] = st.sampled_from(schema["symbols"])
        return named[full]
    if kind == "fixed":
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        named[full] = st.binary(min_size=schema["size"], max_size=schema["size"])
        return named[full]
    if kind == "array":
        return st.lists(_strategy(schema["items"], named, namespace), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(), _strategy(schema["values"], named, namespace), max_size=4)
    return _strategy(kind, named, namespace)  # {"type": "string"} and the like


def _record(schema: dict[str, Any], named: Named, namespace: str) -> st.SearchStrategy[dict[str, Any]]:
    full = _full_name(schema["name"], schema.get("namespace", namespace))
    inner = full.rpartition(".")[0]
    # Register a lazy placeholder first, so a recursive reference to the record resolves.
    named[full] = st.deferred(lambda: strategy)
    fields = {field["name"]: _strategy(field["type"], named, inner) for field in schema["fields"]}
    strategy = st.fixed_dictionaries(fields)
    named[full] = strategy
    return strategy


def _logical(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    logical = schema["logicalType"]
    if logical == "uuid":
        return st.uuids()
    if logical == "timestamp-millis":
        moments = st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC))
        return moments.map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
    if logical == "date":
        return st.dates()
    return _decimals(schema["precision"], schema.get("scale", 0))


def _decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    """Decimals of exactly `scale` places whose digits fit `precision`."""
    bound = Decimal(10) ** (precision - scale) - Decimal(10) ** -scale
    quantum = Decimal(10) ** -scale
    values = st.decimals(-bound, bound, places=scale, allow_nan=False, allow_infinity=False)
    return values.map(lambda value: value.quantize(quantum))
