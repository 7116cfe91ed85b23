"""The contracts workflow against a Confluent-compatible registry: check, register, diff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common._httpx_compat import httpx as _http  # the client's own
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.schema import parse_schema, to_parsing_canonical_form

from contracts.compatibility import DEFAULT_LEVEL, problems
from contracts.errors import IncompatibleSchema, RegistryUnavailable
from contracts.routing import Routing
from contracts.schemas import Contract, event_contracts


def connect(url: str) -> SchemaRegistryClient:
    """A registry client that gives up on a call after 10 s and does not retry by itself: an answer
    that does not come is RegistryUnavailable at once, and whoever calls decides how to retry (the
    projections back off; the API answers 503)."""
    return SchemaRegistryClient({"url": url, "timeout": 10, "max.retries": 0})


@dataclass
class SubjectReport:
    """How one subject's local schema stands against what the registry holds."""

    subject: str
    event_type: str
    level: str
    registered: list[int]
    same_as: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        if self.problems:
            return "incompatible"
        if self.same_as is not None:
            return f"registered (v{self.same_as})"
        return "compatible, not registered" if self.registered else "new"


@contextmanager
def reachable() -> Iterator[None]:
    """Turn the registry client's transport errors into RegistryUnavailable."""
    try:
        yield
    except (_http.HTTPError, OSError) as e:
        raise RegistryUnavailable(str(e) or type(e).__name__) from e


def _not_found(error: SchemaRegistryError) -> bool:
    return error.http_status_code == 404


def subject_level(client: SchemaRegistryClient, subject: str) -> str:
    """The subject's compatibility level, else the registry's global one, else BACKWARD_TRANSITIVE."""
    for scope in (subject, None):
        try:
            return str(client.get_compatibility(scope))
        except SchemaRegistryError as e:
            if not _not_found(e):
                raise
    return DEFAULT_LEVEL


def registered_versions(client: SchemaRegistryClient, subject: str) -> list[RegisteredSchema]:
    """Every registered version of subject, oldest first ([] for an unknown subject)."""
    try:
        versions = client.get_versions(subject)
    except SchemaRegistryError as e:
        if _not_found(e):
            return []
        raise
    return [client.get_version(subject, version) for version in sorted(versions)]


def _canonical(schema_str: str | None) -> str:
    return str(to_parsing_canonical_form(json.loads(schema_str or "null")))


def check(
    client: SchemaRegistryClient, routing: Routing | None = None, contracts: dict[str, Contract] | None = None
) -> list[SubjectReport]:
    """Compare every local contract with every registered version of each of its subjects."""
    routing, contracts = routing or Routing(), contracts or event_contracts()
    reports = []
    for subject, event_type in routing.subjects():
        contract = contracts[event_type]
        versions = registered_versions(client, subject)
        report = SubjectReport(
            subject,
            event_type,
            subject_level(client, subject),
            [v.version for v in versions if v.version is not None],
        )
        history = [(v.version or 0, v.schema.schema_str or "") for v in versions]
        report.same_as = next((version for version, text in history if _canonical(text) == contract.canonical), None)
        if report.same_as is None:
            report.problems = problems(report.level, contract.schema_str, history)
        reports.append(report)
    return reports


def register(
    client: SchemaRegistryClient, reports: list[SubjectReport], contracts: dict[str, Contract] | None = None
) -> dict[str, int]:
    """Register every compatible local schema that is not registered yet; returns subject -> id.

    New subjects get BACKWARD_TRANSITIVE explicitly, so a different global default cannot loosen them.
    """
    contracts = contracts or event_contracts()
    ids = {}
    for report in reports:
        if report.same_as is not None or not report.ok:
            continue
        if not report.registered:
            client.set_compatibility(report.subject, DEFAULT_LEVEL)
        ids[report.subject] = register_version(client, report.subject, contracts[report.event_type].schema_str)
    return ids


def register_version(client: SchemaRegistryClient, subject: str, schema_str: str) -> int:
    """Register one schema version; IncompatibleSchema names the fields when the registry refuses.

    The registry's own message locates problems by schema path; the local check under the
    subject's level names each field and reason, so both are given.
    """
    try:
        return client.register_schema(subject, Schema(schema_str, "AVRO"))
    except SchemaRegistryError as e:
        if e.http_status_code != 409:
            raise
        history = [(v.version or 0, v.schema.schema_str or "") for v in registered_versions(client, subject)]
        local = problems(subject_level(client, subject), schema_str, history)
        raise IncompatibleSchema(subject, "; ".join([*local, f"registry: {e.error_message}"])) from e


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Field-level differences (+ added, - removed, ~ changed type, default or doc) from old to new."""
    before = _flatten(parse_schema(old, _write_hint=False))
    after = _flatten(parse_schema(new, _write_hint=False))
    changes = [f"+ {path}: {after[path]}" for path in after if path not in before]
    changes += [f"- {path}: {before[path]}" for path in before if path not in after]
    changes += [
        f"~ {path}: {before[path]} -> {after[path]}" for path in after if path in before and before[path] != after[path]
    ]
    return changes


def _flatten(schema: Any, prefix: str = "") -> dict[str, str]:
    """`path -> type, default and doc` for every field, nested records included."""
    flat: dict[str, str] = {}
    for entry in schema.get("fields", []) if isinstance(schema, dict) else []:
        path = f"{prefix}{entry['name']}"
        default = f" = {json.dumps(entry['default'])}" if "default" in entry else ""
        flat[path] = f"{describe(entry['type'])}{default}"
        if entry.get("doc"):
            flat[f"{path} (doc)"] = json.dumps(entry["doc"])
        for record in _records(entry["type"]):
            flat.update(_flatten(record, f"{path}."))
    return flat


def describe(kind: Any) -> str:
    """A short type name: `string`, `string(uuid)`, `null | Attachment`, `array<Attachment>`."""
    if isinstance(kind, list):
        return " | ".join(describe(branch) for branch in kind)
    if isinstance(kind, str):
        return kind.rsplit(".", 1)[-1]
    if kind.get("type") in ("record", "enum", "fixed"):
        return str(kind["name"]).rsplit(".", 1)[-1]
    if kind.get("type") == "array":
        return f"array<{describe(kind['items'])}>"
    if kind.get("type") == "map":
        return f"map<{describe(kind['values'])}>"
    logical = f"({kind['logicalType']})" if "logicalType" in kind else ""
    return f"{describe(kind['type'])}{logical}"


def _records(kind: Any) -> list[dict[str, Any]]:
    if isinstance(kind, list):
        return [record for branch in kind for record in _records(branch)]
    if isinstance(kind, dict) and kind.get("type") == "record":
        return [kind]
    if isinstance(kind, dict) and kind.get("type") in ("array", "map"):
        return _records(kind.get("items") or kind.get("values"))
    return []
