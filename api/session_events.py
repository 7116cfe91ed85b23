"""Raw events as stored (type, schema id and registry version, metadata, decoded data): a stream's, or a
tenant's log a page at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import BaseModel, Field

from contracts.convert import to_plain
from eventstore.queries import stream_rows, tenant_log
from eventstore.store import PostgresEventStore

E = TypeVar("E", bound="RawEvent")


class RawEvent(BaseModel):
    position: int
    version: int = Field(description="the event's version in its stream")
    event_type: str = Field(examples=["agentlog.session.MessagePosted"])
    schema_id: int = Field(description="the registry's id of the schema it was written with")
    schema_version: int | None = Field(description="that schema's version under its subject")
    event_id: UUID
    occurred_at: datetime
    correlation_id: UUID = Field(description="the conversation turn or request it belongs to")
    causation_id: UUID | None = Field(description="the event that caused it (null: a person's command)")
    traceparent: str | None = Field(
        description="W3C trace context of the request that caused it; its trace id names the trace to read"
    )
    data: dict[str, Any]


@cache
def _schema_version(registry: SchemaRegistryClient, schema_id: int) -> int | None:
    versions = registry.get_schema_versions(schema_id)
    return max((v.version for v in versions if v.version is not None), default=None)


class LoggedEvent(RawEvent):
    stream_id: str
    stream_type: str = Field(examples=["session"])


async def raw_events(store: PostgresEventStore, stream_type: str, stream_id: str, tenant_id: str) -> list[RawEvent]:
    """The stream's events when it is a `stream_type` stream the tenant owns (its first event says), else []."""
    rows = await stream_rows(store.pool, stream_id)
    if not rows or rows[0]["tenant_id"] != tenant_id or rows[0]["stream_type"] != stream_type:
        return []
    return await _as(RawEvent, store, rows)


async def logged_events(
    store: PostgresEventStore, tenant_id: str, after: int, upto: int, limit: int
) -> list[LoggedEvent]:
    """Up to `limit` of the tenant's events with a position in (after, upto], in position order."""
    return await _as(LoggedEvent, store, await tenant_log(store.pool, tenant_id, after, upto, limit))


async def _as(model: type[E], store: PostgresEventStore, rows: list[asyncpg.Record]) -> list[E]:
    registry, fields = store.codec.registry, set(model.model_fields)
    versions = {sid: await asyncio.to_thread(_schema_version, registry, sid) for sid in {r["schema_id"] for r in rows}}
    decoded = [store.codec.decode(row["payload"]) for row in rows]
    return [
        model(
            **{key: value for key, value in row.items() if key in fields},
            schema_version=versions[row["schema_id"]],
            traceparent=recorded.meta.trace.traceparent if recorded.meta.trace else None,
            data=to_plain(recorded.event),
        )
        for row, recorded in zip(rows, decoded, strict=True)
    ]
