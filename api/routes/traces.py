"""Traces: a trace's spans from the span store (observability/spanstore.py), laid out for a waterfall."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.body import JsonRoute
from api.deps import CallerDep, ServicesDep
from api.errors import ApiError, responses
from observability.spanstore import read_trace

router = APIRouter(tags=["traces"], route_class=JsonRoute)
TraceId = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{32}$",
        description="a W3C trace id: 32 lower-case hex digits (all zeros, W3C's invalid id, names no trace: 404)",
        examples=["4bf92f3577b34da6a3ce929d0e0e4736"],
    ),
]


class SpanOut(BaseModel):
    trace_id: str = Field(examples=["4bf92f3577b34da6a3ce929d0e0e4736"])
    span_id: str = Field(examples=["00f067aa0ba902b7"])
    parent_span_id: str | None = Field(description="null: a root span (or its parent is outside agentlog)")
    name: str = Field(examples=["POST /v1/sessions/{session_id}/messages"])
    service: str = Field(description="the process that recorded it", examples=["agentlog-api"])
    kind: str = Field(examples=["server"])
    start_unix_nano: int
    end_unix_nano: int
    offset_ms: float = Field(description="start, in ms after the trace's first span started")
    duration_ms: float
    status: str = Field(description="unset, ok or error")
    status_message: str | None = None
    attributes: dict[str, Any] = Field(description="OpenTelemetry attributes (http.*, messaging.*, agentlog.*)")


class TraceOut(BaseModel):
    trace_id: str
    duration_ms: float = Field(description="from the first span's start to the last span's end")
    spans: list[SpanOut] = Field(description="sorted by start")


@router.get(
    "/traces/{trace_id}",
    operation_id="getTrace",
    response_model=TraceOut,
    summary="A trace's spans, sorted by start, with offsets and durations for a waterfall",
    description="Spans are kept in Redis for AGENTLOG_TRACING_TTL seconds (default an hour) by processes run "
    "with AGENTLOG_TRACING on. A trace is the caller's when one of its spans carries the caller's tenant; "
    "spans of other tenants are left out.",
    responses=responses(404),
)
async def get_trace(trace_id: TraceId, svc: ServicesDep, who: CallerDep) -> dict[str, object]:
    spans = await read_trace(svc.reads.client, svc.reads.prefix, trace_id, who.tenant_id)
    if not spans:
        raise ApiError(404, "not-found", f"trace {trace_id} not found (or expired: spans are kept for a while)")
    end = max(s["offset_ms"] + s["duration_ms"] for s in spans)
    return {"trace_id": trace_id, "duration_ms": round(end, 3), "spans": spans}
