"""W3C trace context in and out of OpenTelemetry, the tracing settings, and a span as the span store keeps it."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from observability.spanstore import as_json
from observability.tracing import (
    TracingSettings,
    configure_tracing,
    context_of,
    header,
    parent_of,
    sampled,
    traceparent_of,
)

pytestmark = pytest.mark.unit
TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


def test_a_traceparent_becomes_a_remote_parent_with_its_ids_and_flags():
    context = context_of(TRACEPARENT)
    assert context is not None
    parent = trace.get_current_span(context).get_span_context()
    assert (f"{parent.trace_id:032x}", f"{parent.span_id:016x}", parent.is_remote, parent.trace_flags.sampled) == (
        TRACE,
        PARENT,
        True,
        True,
    )


@pytest.mark.parametrize(
    "bad", [None, "", "garbage", f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01", f"ff-{TRACE}-{PARENT}-01"]
)
def test_no_parent_comes_of_a_missing_or_invalid_traceparent(bad):
    assert context_of(bad) is None


def test_the_traceparent_of_a_recording_span_names_it_and_a_non_recording_one_has_none():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("child", context=context_of(TRACEPARENT)) as span:
        ctx = span.get_span_context()
        assert traceparent_of(span) == f"00-{TRACE}-{ctx.span_id:016x}-01"
    assert traceparent_of(trace.NonRecordingSpan(ctx)) is None


def test_a_consumer_continues_the_record_header_before_the_events_own_trace_context():
    other = f"00-{'a' * 32}-{'b' * 16}-01"
    from_header = parent_of([("position", b"7"), ("traceparent", other.encode())], TRACEPARENT)
    from_event = parent_of([("position", b"7")], TRACEPARENT)
    assert from_header is not None and from_event is not None
    assert trace.get_current_span(from_header).get_span_context().trace_id == int("a" * 32, 16)
    assert trace.get_current_span(from_event).get_span_context().trace_id == int(TRACE, 16)
    assert header({"traceparent": other.encode()}) == other and header(None) is None
    assert parent_of([], None) is None


def test_the_settings_read_the_standard_otel_names_and_tracing_is_off_unless_asked(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api-eu")
    monkeypatch.setenv("AGENTLOG_TRACING_TTL", "120")
    settings = TracingSettings()
    assert (settings.otlp_endpoint, settings.service_name, settings.tracing_ttl) == (
        "http://collector:4318",
        "api-eu",
        120,
    )
    assert settings.tracing is False
    before = trace.get_tracer_provider()
    assert configure_tracing("agentlog-api", settings) is None
    assert trace.get_tracer_provider() is before


def test_a_bad_ttl_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("AGENTLOG_TRACING_TTL", "0")
    with pytest.raises(ValueError, match="tracing_ttl"):
        TracingSettings()


def test_a_finished_span_is_kept_as_json_with_its_parent_service_times_and_attributes():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agentlog-relay"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attributes: dict[str, Any] = {"agentlog.tenant": "acme", "agentlog.position": 42, "codes": (1, 2)}
    with provider.get_tracer("test").start_as_current_span(
        "relay.publish", context=context_of(TRACEPARENT), kind=SpanKind.PRODUCER, attributes=attributes
    ):
        pass
    [span] = exporter.get_finished_spans()
    kept = as_json(span)
    assert kept["trace_id"] == TRACE and kept["parent_span_id"] == PARENT and len(kept["span_id"]) == 16
    assert (kept["name"], kept["service"], kept["kind"], kept["status"]) == (
        "relay.publish",
        "agentlog-relay",
        "producer",
        "unset",
    )
    assert kept["attributes"] == {"agentlog.tenant": "acme", "agentlog.position": 42, "codes": [1, 2]}
    assert 0 < kept["start_unix_nano"] <= kept["end_unix_nano"]


@pytest.mark.parametrize(
    ("flags", "recorded"), [("01", True), ("03", True), ("00", False), ("02", False), ("zz", False)]
)
def test_only_a_traceparent_with_the_sampled_flag_asks_the_relay_for_a_span(flags, recorded):
    assert sampled(f"00-{TRACE}-{PARENT}-{flags}") is recorded
    assert sampled(None) is False and sampled("00-short") is False
