"""OpenTelemetry traces: one setup per process, W3C context carried by events and Kafka headers, spans named alike.

A request's span continues through everything its events cause: the API writes the traceparent of its
request span into the events' metadata, the relay starts each event's `relay.publish` span under it and
puts that span's traceparent in the Kafka record's headers, and the consumers (projections, workers)
start theirs under the header's context (else under the event's own traceparent). Without
`configure_tracing` (AGENTLOG_TRACING off) the tracer is OpenTelemetry's no-op one: nothing is recorded
and the events keep the caller's traceparent as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from observability.context import traceparent_from

TRACER = trace.get_tracer("agentlog")  # a proxy: the provider `configure_tracing` sets, else no-op
TRACEPARENT = "traceparent"  # the Kafka header (and HTTP header) name, as W3C spells it
TENANT = "agentlog.tenant"
__all__ = ["Span", "SpanKind", "Status", "StatusCode"]  # re-exported: callers need not import OpenTelemetry


class TracingSettings(BaseSettings):
    """AGENTLOG_TRACING (on/off), AGENTLOG_TRACING_STORE (finished spans into Redis for GET /v1/traces/{id}),
    AGENTLOG_TRACING_TTL (seconds a trace is kept there), AGENTLOG_TRACING_MAX_SPANS (kept per trace), the
    standard OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP/protobuf too, when set) and OTEL_SERVICE_NAME."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore", populate_by_name=True)

    tracing: bool = Field(default=False, description="record spans (the local stack turns this on)")
    tracing_store: bool = Field(default=True, description="keep finished spans in Redis (GET /v1/traces/{id})")
    tracing_ttl: int = Field(default=3600, ge=1, le=7 * 86400, description="seconds a trace is kept in Redis")
    tracing_max_spans: int = Field(default=2000, ge=1, le=100_000, description="spans kept per trace in Redis")
    redis_url: str = Field(default="redis://127.0.0.1:16379/0", validation_alias="REDIS_URL")
    redis_prefix: str = Field(default="agentlog:", pattern=r"^[A-Za-z0-9._:-]*$")
    otlp_endpoint: str | None = Field(default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    service_name: str | None = Field(default=None, validation_alias="OTEL_SERVICE_NAME")


def configure_tracing(
    service_name: str, settings: TracingSettings | None = None, exporters: Sequence[SpanExporter] = ()
) -> TracerProvider | None:
    """Record this process's spans (service `service_name` unless OTEL_SERVICE_NAME says otherwise) into the
    Redis span store and/or OTLP, and `exporters`; None, and nothing recorded, when tracing is off.

    Call it once, in the process's composition root: OpenTelemetry keeps the first provider set."""
    settings = settings or TracingSettings()
    if not settings.tracing:
        return None
    resource = Resource.create({"service.name": settings.service_name or service_name})
    provider = TracerProvider(resource=resource)
    chosen = list(exporters)
    if settings.tracing_store:
        from observability.spanstore import RedisSpanExporter  # noqa: PLC0415 - only processes that store spans

        chosen.append(RedisSpanExporter.connect(settings))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        chosen.append(OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"))
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The remote parent a W3C traceparent names, as an OpenTelemetry context; None when absent or invalid."""
    valid = traceparent_from(traceparent)
    if valid is None:
        return None
    _, trace_id, parent_id, flags = valid.split("-")
    parent = SpanContext(int(trace_id, 16), int(parent_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16)))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def sampled(traceparent: str | None) -> bool:
    """Whether a W3C traceparent asks for recording (its sampled flag); False when absent or malformed."""
    if not traceparent or len(traceparent) < 55:
        return False
    try:
        return bool(int(traceparent[53:55], 16) & 1)
    except ValueError:
        return False


def traceparent_of(span: Span | None = None) -> str | None:
    """The W3C traceparent naming `span` (default: the current one) as a parent; None when it is not recording."""
    span = span or trace.get_current_span()
    if not span.is_recording():
        return None
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def header(headers: Sequence[tuple[str, Any]] | Mapping[str, Any] | None) -> str | None:
    """The traceparent among Kafka record headers ((name, bytes) pairs, as confluent-kafka gives them), if any."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == TRACEPARENT and value:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def parent_of(
    headers: Sequence[tuple[str, Any]] | Mapping[str, Any] | None, traceparent: str | None = None
) -> otel_context.Context | None:
    """Where a consumer's span goes: under the record's header (the relay's publish span), else under the
    event's own traceparent; None (a new trace, or none at all) without either."""
    return context_of(header(headers)) or context_of(traceparent)


@contextmanager
def span(
    name: str,
    parent: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    outcomes: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """A span named `name`, current for the block, under `parent` (default: the current span); an exception
    that leaves the block is recorded on it and marks it failed, unless it is one of `outcomes` (an answer,
    such as a refused append, not a failure), which is only named (`agentlog.outcome`): recording formats
    a traceback, a tenth of a refused request's time. Where nothing records, the block runs under a span
    that ignores what it is told, without OpenTelemetry's no-op machinery (a tenth of an append's CPU)."""
    if not active():
        yield trace.INVALID_SPAN
        return
    clean = {key: value for key, value in (attributes or {}).items() if value is not None}
    with TRACER.start_as_current_span(
        name, context=parent, kind=kind, attributes=clean, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except outcomes as e:
            current.set_attribute("agentlog.outcome", type(e).__name__)
            raise
        except BaseException as e:
            current.record_exception(e)
            current.set_status(Status(StatusCode.ERROR, f"{type(e).__name__}: {e}"))
            raise


def start(
    name: str, parent: otel_context.Context | None, kind: SpanKind, attributes: Mapping[str, Any] | None = None
) -> Span:
    """A span that is not made current (the caller ends it): one per item of a batch, e.g. the relay's."""
    clean = {key: value for key, value in (attributes or {}).items() if value is not None}
    return TRACER.start_span(name, context=parent, kind=kind, attributes=clean)


def active() -> bool:
    """Whether this process records spans (`configure_tracing` set a provider): hot paths skip their spans else."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span (`tenant=` becomes `agentlog.tenant`); nothing when none records."""
    current = trace.get_current_span()
    if current.is_recording():
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(TENANT if key == "tenant" else key, value)
