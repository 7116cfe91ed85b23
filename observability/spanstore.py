"""The span store: finished spans kept in Redis per trace for a while, so a trace can be read without a backend.

Each trace is one Redis list, `<prefix>trace:<trace id>`, of JSON spans (trace and span ids, parent,
name, service, kind, start and end in unix nanoseconds, status, attributes with the tenant); it
expires AGENTLOG_TRACING_TTL seconds after its last span was added and holds at most
AGENTLOG_TRACING_MAX_SPANS spans (the first ones). Every process writes there from its
BatchSpanProcessor's thread, in one pipelined round trip per batch; the API reads it
(GET /v1/traces/{trace_id}).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import redis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from observability import redisconn
from observability.tracing import TENANT, TracingSettings

if TYPE_CHECKING:
    from redis import asyncio as aioredis

log = logging.getLogger("agentlog.tracing")


def trace_key(prefix: str, trace_id: str) -> str:
    return f"{prefix}trace:{trace_id}"


def as_json(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as the store keeps it."""
    ctx = span.get_span_context()
    assert ctx is not None  # a finished SDK span always has one
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "service": span.resource.attributes.get("service.name", ""),
        "kind": span.kind.name.lower(),
        "start_unix_nano": span.start_time,
        "end_unix_nano": span.end_time,
        "status": span.status.status_code.name.lower(),
        "status_message": span.status.description,
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class RedisSpanExporter(SpanExporter):
    """Appends finished spans to their trace's list (see the module); a Redis outage loses that batch of spans,
    never the work they describe."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: int, max_spans: int) -> None:
        self.client, self.prefix, self.ttl, self.max_spans = client, prefix, ttl, max_spans

    @classmethod
    def connect(cls, settings: TracingSettings) -> RedisSpanExporter:
        """An exporter on the settings' Redis (connected at the first export, not now)."""
        client = redisconn.connect_sync(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, settings.redis_prefix, settings.tracing_ttl, settings.tracing_max_spans)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        pipe = self.client.pipeline(transaction=False)
        touched: set[str] = set()
        for finished in spans:
            document = as_json(finished)
            key = trace_key(self.prefix, document["trace_id"])
            pipe.rpush(key, orjson.dumps(document, default=str))
            touched.add(key)
        for key in touched:
            pipe.ltrim(key, 0, self.max_spans - 1)
            pipe.expire(key, self.ttl)
        try:
            pipe.execute()
        except redis.RedisError as e:
            log.warning("%d span(s) not stored: %s", len(spans), e)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.client.close()


async def read_trace(client: aioredis.Redis, prefix: str, trace_id: str, tenant: str) -> list[dict[str, Any]]:
    """The trace's spans the tenant may see, sorted by start, each with `offset_ms` (from the trace's first
    span) and `duration_ms`: [] when the store has no span of the trace carrying `tenant`. Spans of another
    tenant are left out; spans that name no tenant (the relay's) are shown with the tenant's."""
    raw = await client.lrange(trace_key(prefix, trace_id), 0, -1)
    spans = [json.loads(item) for item in raw]
    if not any(s["attributes"].get(TENANT) == tenant for s in spans):
        return []
    seen = [s for s in spans if s["attributes"].get(TENANT, tenant) == tenant]
    seen.sort(key=lambda s: (s["start_unix_nano"], s["end_unix_nano"]))
    first = seen[0]["start_unix_nano"]
    for s in seen:
        s["offset_ms"] = round((s["start_unix_nano"] - first) / 1e6, 3)
        s["duration_ms"] = round((s["end_unix_nano"] - s["start_unix_nano"]) / 1e6, 3)
    return seen
