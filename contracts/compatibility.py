"""Schema compatibility by the registry's seven levels, checked locally with the `avro` package.

The registry enforces the same rules when a version is registered; checking locally first lets
`agentlog contracts check` name the offending field and reason for every registered version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

DEFAULT_LEVEL = "BACKWARD_TRANSITIVE"
LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


def pairs(level: str, new: str, registered: list[tuple[int, str]]) -> Iterator[tuple[str, int, str, str]]:
    """(direction, version, reader, writer) schema pairs that `level` requires to be compatible.

    `registered` is (version, schema) oldest first. BACKWARD: the new schema reads old data;
    FORWARD: old readers read new data; FULL: both; *_TRANSITIVE: against every version, not
    only the latest.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; expected one of {', '.join(LEVELS)}")
    against = registered if level.endswith("_TRANSITIVE") else registered[-1:]
    for version, old in against:
        if level.startswith(("BACKWARD", "FULL")):
            yield "new reads old", version, new, old
        if level.startswith(("FORWARD", "FULL")):
            yield "old reads new", version, old, new


def problems(level: str, new: str, registered: list[tuple[int, str]]) -> list[str]:
    """Why `new` may not follow `registered` under `level`, one line per field; [] when it may."""
    found = []
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    for direction, version, reader, writer in pairs(level, new, registered):
        result = checker.get_compatibility(avro.schema.parse(reader), avro.schema.parse(writer))
        if result.compatibility is SchemaCompatibilityType.compatible:
            continue
        fields = sorted({_field_at(reader, loc) for loc in result.locations if "/fields/" in loc}) or ["(root)"]
        kinds = ", ".join(sorted(kind.value for kind in result.incompatibilities))
        reasons = "; ".join(sorted(result.messages))
        found.append(f"v{version} ({direction}): field {', '.join(fields)}: {kinds}: {reasons}")
    return found


def _field_at(schema: str, location: str) -> str:
    """The dotted field path a checker location such as `/fields/2/type/fields/0` points to."""
    node: object = json.loads(schema)
    names = []
    for index in re.findall(r"/fields/(\d+)", location):
        record = _record_in(node)
        if record is None:
            break
        field = record["fields"][int(index)]
        names.append(str(field["name"]))
        node = field["type"]
    return ".".join(names) or location


def _record_in(node: object) -> dict[str, Any] | None:
    """The record schema inside a type: itself, a union's record branch, an array's or map's items."""
    while True:
        if isinstance(node, list):
            node = next((branch for branch in node if isinstance(branch, dict)), None)
        elif isinstance(node, dict) and "fields" in node:
            return node
        elif isinstance(node, dict):
            node = node.get("items") or node.get("values") or node.get("type")
        else:
            return None
