"""A stream's raw events as stored: type, schema id and registry version, metadata and decoded data."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import BaseModel, Field

from contracts.convert import to_plain
from eventstore.queries import stream_rows
from eventstore.store import PostgresEventStore


class RawEvent(BaseModel):
    position: int
    version: int = Field(description="the event's version in its stream")
    event_type: str = Field(examples=["agentlog.session.MessagePosted"])
    schema_id: int = Field(description="the registry's id of the schema it was written with")
    schema_version: int | None = Field(description="that schema's version under its subject")
    event_id: UUID
    occurred_at: datetime
    data: dict[str, Any]


@cache
def _schema_version(registry: SchemaRegistryClient, schema_id: int) -> int | None:
    versions = registry.get_schema_versions(schema_id)
    return max((v.version for v in versions if v.version is not None), default=None)


async def raw_events(store: PostgresEventStore, stream_type: str, stream_id: str, tenant_id: str) -> list[RawEvent]:
    """The stream's events when it is a `stream_type` stream the tenant owns (its first event says), else []."""
    rows = await stream_rows(store.pool, stream_id)
    if not rows or rows[0]["tenant_id"] != tenant_id or rows[0]["stream_type"] != stream_type:
        return []
    registry = store.codec.registry
    versions = {sid: await asyncio.to_thread(_schema_version, registry, sid) for sid in {r["schema_id"] for r in rows}}
    return [
        RawEvent(
            position=row["position"],
            version=row["version"],
            event_type=row["event_type"],
            schema_id=row["schema_id"],
            schema_version=versions[row["schema_id"]],
            event_id=row["event_id"],
            occurred_at=row["occurred_at"],
            data=to_plain(store.codec.decode(row["payload"]).event),
        )
        for row in rows
    ]
