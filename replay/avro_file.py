"""Avro Object Container Files of exported events, written from the stored bytes.

Every event goes into one file under one schema, `agentlog.export.ExportedEvent`: its position, when
it was recorded, its type, and the event itself as a union of every event contract (each named type
defined once, as the Avro specification requires), so any Avro tool reads the file. An event
stored under the current schema is copied as its stored Avro body, without decoding; one stored
under an older version is upcast first (`EventCodec.current_body`). The container format is the
specification's: header (magic, metadata with the schema and codec, sync marker), then blocks of
(count, size, data, sync).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping, Sequence
from typing import IO, Any

CODECS = ("null", "deflate")
BLOCK_BYTES = 1 << 20  # a block is written when its data reaches this size


def envelope(contracts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The file's schema: position, recorded_at, event_type and the event as a union of `contracts`."""
    defined: set[str] = set()
    union = [_defined_once(schema, "", defined) for schema in contracts.values()]
    return {
        "type": "record",
        "name": "ExportedEvent",
        "namespace": "agentlog.export",
        "doc": "An event as agentlog's event store holds it, with its global position.",
        "fields": [
            {"name": "position", "type": "long", "doc": "Global position in the event store."},
            {"name": "recorded_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "event_type", "type": "string", "doc": "The event's contract name."},
            {"name": "event", "type": union},
        ],
    }


def _defined_once(schema: Any, namespace: str, defined: set[str]) -> Any:
    """`schema` with every named type already in `defined` replaced by its full name."""
    if isinstance(schema, list):
        return [_defined_once(branch, namespace, defined) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema["type"]
    if kind in ("record", "enum", "fixed"):
        name = schema["name"]
        namespace = schema.get("namespace", namespace) if "." not in name else name.rsplit(".", 1)[0]
        full = name if "." in name else f"{namespace}.{name}" if namespace else name
        if full in defined:
            return full
        defined.add(full)
        if kind == "record":
            fields = [{**f, "type": _defined_once(f["type"], namespace, defined)} for f in schema["fields"]]
            return {**schema, "fields": fields}
        return schema
    if kind == "array":
        return {**schema, "items": _defined_once(schema["items"], namespace, defined)}
    if kind == "map":
        return {**schema, "values": _defined_once(schema["values"], namespace, defined)}
    return {**schema, "type": _defined_once(kind, namespace, defined)}


def long_bytes(n: int) -> bytes:
    """An Avro long: zig-zag, then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string_bytes(text: str) -> bytes:
    raw = text.encode()
    return long_bytes(len(raw)) + raw


class ContainerWriter:
    """Appends pre-encoded datums of `schema` to an Avro container file open for binary writing."""

    def __init__(self, sink: IO[bytes], schema: Mapping[str, Any], codec: str = "null") -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown Avro codec {codec!r}: one of {', '.join(CODECS)}")
        self.sink, self.codec, self.sync = sink, codec, os.urandom(16)
        self.blocks: list[bytes] = []
        self.size = self.count = 0
        meta = {"avro.schema": json.dumps(schema, separators=(",", ":")).encode(), "avro.codec": codec.encode()}
        header = [b"Obj\x01", long_bytes(len(meta))]
        for key, value in meta.items():
            header += [string_bytes(key), long_bytes(len(value)), value]
        sink.write(b"".join([*header, long_bytes(0), self.sync]))

    def append(self, datums: Sequence[bytes]) -> None:
        self.blocks.extend(datums)
        self.count += len(datums)
        self.size += sum(map(len, datums))
        if self.size >= BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.count:
            return
        data = b"".join(self.blocks)
        if self.codec == "deflate":
            data = zlib.compress(data)[2:-4]  # raw deflate: without zlib's header and checksum
        self.sink.write(b"".join([long_bytes(self.count), long_bytes(len(data)), data, self.sync]))
        self.blocks, self.size, self.count = [], 0, 0
