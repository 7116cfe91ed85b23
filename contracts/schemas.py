"""The local Avro contracts: one `.avsc` file per event in contracts/avro, named by its full name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import load_schema, parse_schema, to_parsing_canonical_form

AVRO_DIR = Path(__file__).parent / "avro"
SHARED_NAMESPACE = "agentlog.common"


@dataclass(frozen=True)
class Contract:
    """An event's schema, self-contained (shared named types inlined) as it is registered."""

    name: str
    schema: dict[str, Any]
    path: Path

    @property
    def schema_str(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))

    @property
    def canonical(self) -> str:
        """Parsing Canonical Form: equal for schemas that read and write the same bytes."""
        return str(to_parsing_canonical_form(self.schema))


def load_contract(path: Path) -> Contract:
    """Parse one `.avsc` file, inlining named types from sibling `<full name>.avsc` files."""
    schema = load_schema(str(path), _write_hint=False)
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError(f"{path.name}: an event contract must be an Avro record")
    name = str(schema["name"])
    if path.name != f"{name}.avsc":
        raise ValueError(f"{path.name}: file name must be the record's full name, {name}.avsc")
    parse_schema(schema)
    return Contract(name=name, schema=schema, path=path)


@cache
def event_contracts(directory: Path = AVRO_DIR) -> dict[str, Contract]:
    """Every event contract in directory by full name; shared types (agentlog.common) excluded."""
    contracts = {}
    for path in sorted(directory.glob("*.avsc")):
        if not path.name.startswith(f"{SHARED_NAMESPACE}."):
            contract = load_contract(path)
            contracts[contract.name] = contract
    return contracts
