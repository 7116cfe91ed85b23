"""Parquet files of exported events: one typed column per field, a file per event type (and day).

A Parquet file has one schema and every event type has its own fields, so the output is a folder,
partitioned Hive-style by event type, and by day too when asked:
`<out>/event_type=<contract name>/[day=YYYY-MM-DD/]part-0.parquet`. Columns: `position`,
`recorded_at`, then the event's fields as its contract types them (`meta` a struct; ids and enums as
strings, times as UTC timestamps, dates as dates, decimals as decimals, maps as maps).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PENDING_ROWS = 20_000  # rows held in memory, over all files, before they are written (the memory bound)
_PRIMITIVES = {
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "boolean": pa.bool_(),
    "double": pa.float64(),
    "float": pa.float32(),
    "bytes": pa.binary(),
}


def arrow_type(schema: Any) -> pa.DataType:
    """The Arrow type of an Avro type (as the contracts use them; a union is nullable, not a column of its own)."""
    if isinstance(schema, list):
        (branch,) = [b for b in schema if b != "null"]
        return arrow_type(branch)
    if isinstance(schema, str):
        return _PRIMITIVES[schema]
    match schema.get("logicalType"), schema["type"]:
        case "timestamp-millis", _:
            return pa.timestamp("ms", tz="UTC")
        case "date", _:
            return pa.date32()
        case "decimal", _:
            return pa.decimal128(schema["precision"], schema.get("scale", 0))
        case _, "record":
            return pa.struct([_field(f) for f in schema["fields"]])
        case _, "enum":
            return pa.string()
        case _, "array":
            return pa.list_(arrow_type(schema["items"]))
        case _, "map":
            return pa.map_(pa.string(), arrow_type(schema["values"]))
        case _, kind:
            return arrow_type(kind)


def _field(field: dict[str, Any]) -> pa.Field:
    kind = field["type"]
    return pa.field(field["name"], arrow_type(kind), isinstance(kind, list) and "null" in kind)


def table_schema(contract: dict[str, Any]) -> pa.Schema:
    """position, recorded_at, then the contract's fields."""
    fields = [pa.field("position", pa.int64(), False), pa.field("recorded_at", pa.timestamp("ms", tz="UTC"), False)]
    fields += [_field(f) for f in contract["fields"]]
    return pa.schema(fields)


class ParquetFolder:
    """Rows by event type (and day), buffered (PENDING_ROWS over all of them) and written a row group at a time."""

    def __init__(self, out: Path, contracts: dict[str, dict[str, Any]], *, by_day: bool = False) -> None:
        self.out, self.by_day = out, by_day
        self.schemas = {name: table_schema(contract) for name, contract in contracts.items()}
        self.pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.held = 0
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}

    def append(self, event_type: str, position: int, recorded_ms: int, record: dict[str, Any]) -> None:
        record["position"], record["recorded_at"] = position, recorded_ms
        key = (event_type, _day(record["meta"]["occurred_at"]) if self.by_day else "")
        self.pending[key].append(record)
        self.held += 1
        if self.held >= PENDING_ROWS:
            self._flush_all()

    def close(self) -> list[Path]:
        self._flush_all()
        for writer in self.writers.values():
            writer.close()
        return sorted(Path(w.where) for w in self.writers.values())

    def _flush_all(self) -> None:
        for key in list(self.pending):
            self._flush(key, self.pending.pop(key))
        self.held = 0

    def _flush(self, key: tuple[str, str], rows: list[dict[str, Any]]) -> None:
        schema = self.schemas[key[0]]
        writer = self.writers.get(key)
        if writer is None:
            folder = self.out / f"event_type={key[0]}" / (f"day={key[1]}" if key[1] else "")
            folder.mkdir(parents=True, exist_ok=True)
            writer = self.writers[key] = pq.ParquetWriter(folder / "part-0.parquet", schema)
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def _day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()
