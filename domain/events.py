"""What every domain event shares, and the metadata the application records beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from uuid import UUID


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """A fact that happened to one aggregate, named in the past tense; immutable.

    Subclasses set `aggregate`, the package they belong to; `type_name()` is the event's
    contract name (`agentlog.<aggregate>.<ClassName>`), which is also its Avro record name.
    """

    aggregate: ClassVar[str]

    @classmethod
    def type_name(cls) -> str:
        return f"agentlog.{cls.aggregate}.{cls.__name__}"


@dataclass(frozen=True, kw_only=True)
class TraceContext:
    """W3C trace context (the `traceparent` and `tracestate` headers) of the request that caused it."""

    traceparent: str
    tracestate: str | None = None


@dataclass(frozen=True, kw_only=True)
class EventMetadata:
    """Where an event sits (stream, version), who owns it (tenant) and why it happened."""

    event_id: UUID
    stream_id: str
    stream_type: str
    stream_version: int
    tenant_id: str
    occurred_at: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    trace: TraceContext | None = None


@dataclass(frozen=True, kw_only=True)
class RecordedEvent:
    """A domain event together with its metadata: the unit that is stored and published."""

    meta: EventMetadata
    event: DomainEvent


@dataclass(frozen=True, kw_only=True)
class CommandContext:
    """Who asks and why: becomes the metadata of every event the command records.

    `idempotency_key` with `request_hash` makes the command safe to retry: the same key returns
    the original result and records nothing; the same key with another request is refused.
    """

    tenant_id: str
    correlation_id: UUID
    occurred_at: datetime
    causation_id: UUID | None = None
    trace: TraceContext | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, kw_only=True)
class AppendResult:
    """What a command recorded: the stream's new version and the global position of its last event."""

    stream_id: str
    version: int
    position: int
    event_ids: tuple[UUID, ...] = ()
