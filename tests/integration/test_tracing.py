"""OpenTelemetry across the asynchronous path on the real servers: one trace from a POST to the last reply chunk,
the traceparent in the Kafka headers, the Redis span store behind GET /v1/traces/{id}, and tracing off."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from api.tenants import Tenants
from cli.provider import drop_keys, drop_schema
from contracts.routing import INBOUND, TOOL_REQUESTS
from domain.errors import ConcurrencyConflict
from eventstore.migrate import migrate
from observability import tracing
from observability.spanstore import RedisSpanExporter
from observability.tracing import header
from stack.ports import free_port
from tests.conftest import registered_codec
from tests.support.api import eventually, running_api
from tests.support.conversation import post, settings_for, wait_for_reply, worker_running
from tests.support.processes import Processes, answers, until
from tests.support.tools import allowing, executor, policy_folder
from workers.runtime import Worker

pytestmark = pytest.mark.integration
CALL = "Calculate 2 + 2"  # the deterministic responder asks the calculator, then answers


class Gate(SpanProcessor):
    """A processor that forwards finished spans while open: OpenTelemetry keeps the first provider a process
    sets, so the spans of later tests in this process must not reach this module's exporters."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor, self.open = processor, True

    def on_end(self, span: ReadableSpan) -> None:
        if self.open:
            self.processor.on_end(span)

    def close(self) -> None:
        self.open = False
        self.processor.shutdown()


def in_memory(*more: SpanExporter) -> tuple[InMemorySpanExporter, list[Gate]]:
    """Spans of this process (the API, relay, views and workers run in it) into memory, and `more` exporters."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first provider set in a process stays
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "agentlog-test"})))
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    gates = [Gate(SimpleSpanProcessor(each)) for each in (exporter, *more)]
    for gate in gates:
        provider.add_span_processor(gate)
    return exporter, gates


@pytest.fixture(scope="module")
def world(servers, registry, tmp_path_factory):
    """An API with its relay and views, the conversation worker and the tool executor, all in this process, with
    spans kept in memory and in the API's Redis span store."""
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        store_spans = RedisSpanExporter(redis.Redis.from_url(servers.redis_url), api.settings.redis_prefix, 600, 2000)
        spans, gates = in_memory(store_spans)
        folder = policy_folder(tmp_path_factory.mktemp("policies"))
        settings = settings_for(api, codec, servers, conversation_tool_timeout_ms=5000, conversation_tool_grace=1)
        try:
            with worker_running(api, codec, settings) as store:
                tools = Worker("tools", [TOOL_REQUESTS], codec, servers.kafka_bootstrap_servers,
                               executor(store, folder).handle)  # fmt: skip
                stop = asyncio.Event()
                running = asyncio.run_coroutine_threadsafe(tools.run(stop), api.loop)
                try:
                    yield api, codec, spans, folder
                finally:
                    api.loop.call_soon_threadsafe(stop.set)
                    running.result(30)
        finally:
            for gate in gates:
                gate.close()


def request_span(spans: InMemorySpanExporter, tenant: str) -> ReadableSpan | None:
    return next(
        (
            s
            for s in spans.get_finished_spans()
            if s.kind.name == "SERVER" and (s.attributes or {}).get("agentlog.tenant") == tenant
        ),
        None,
    )


def of_trace(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def names(found: list[ReadableSpan]) -> set[str]:
    return {s.name for s in found}


def roots_of(found: list[ReadableSpan]) -> list[ReadableSpan]:
    """The spans whose parent is not in `found`."""
    ids = {s.context.span_id for s in found}
    return [s for s in found if s.parent is None or s.parent.span_id not in ids]


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """The names from `span`'s parent up to the root."""
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span.name)
    return found


@pytest.fixture
def answered(world):
    """A message that made the worker call the calculator, answered: its tenant, headers, session and trace id."""
    api, _, spans, folder = world
    tenant, headers = api.tenant()
    (folder / f"{tenant}.rego").write_text(allowing("calculator"))
    with api.client() as client:
        response = post(client, headers, CALL)
        assert response.status_code in (200, 201, 202), response.text
        session = response.json()["session_id"]
        [reply] = wait_for_reply(client, headers, session, timeout=60)  # a busy machine is slow, not wrong
    assert reply["text"] == "2 + 2 = 4"
    root = eventually(lambda: request_span(spans, tenant), timeout=30)
    expected = {"conversation.turn", "policy.decide", "tool.run calculator", "model.call", "eventstore.append"}
    eventually(lambda: expected <= names(of_trace(spans, root.context.trace_id)), timeout=30)
    return tenant, headers, session, root.context.trace_id


def test_a_message_is_one_connected_trace_from_the_post_to_the_reply_chunks(world, answered):
    _, _, spans, _ = world
    tenant, _, _, trace_id = answered
    # the reply's last events are folded into the views after the reply is read: wait for their spans too
    eventually(lambda: sum(s.name == "projection.apply transcript" for s in of_trace(spans, trace_id)) >= 3, timeout=30)
    # a span is exported when it ends: a relay's publish span after Kafka confirmed its batch, maybe after a
    # view applied the event; wait until every parent has ended (or the trace stays broken, and this fails)
    eventually(lambda: len(roots_of(of_trace(spans, trace_id))) == 1, timeout=30)
    found = of_trace(spans, trace_id)
    by_id = {s.context.span_id: s for s in found}

    roots = roots_of(found)
    assert [(r.name, r.parent) for r in roots] == [("POST /v1/session/message", None)]
    assert {"eventstore.append", "relay.publish", "projection.apply sessions", "conversation.turn", "policy.decide",
            "tool.run calculator", "model.call"} <= names(found)  # fmt: skip
    turn = next(s for s in found if s.name == "conversation.turn")
    assert ancestors(turn, by_id) == ["relay.publish", "POST /v1/session/message"]
    run = next(s for s in found if s.name == "tool.run calculator")
    assert ancestors(run, by_id)[:2] == ["relay.publish", "conversation.turn"]
    assert attrs(next(s for s in found if s.name == "policy.decide"))["agentlog.verdict"] == "allow"
    chunk_appends = [
        s for s in found if s.name == "eventstore.append" and "AssistantReplyChunk" in attrs(s)["agentlog.event_type"]
    ]
    assert chunk_appends, "the reply's chunks are appended in the trace"
    assert all("conversation.turn" in ancestors(s, by_id) for s in chunk_appends)  # in a model call, or the final reply
    assert {tuple(ancestors(s, by_id)[:2]) for s in found if s.name == "model.call"} == {
        ("conversation.turn", "relay.publish")
    }
    assert all(attrs(s).get("agentlog.tenant") in (tenant, None) for s in found)
    publish = next(s for s in found if s.name == "relay.publish")
    assert attrs(publish)["messaging.system"] == "kafka" and attrs(publish)["agentlog.position"] > 0


def test_the_published_records_carry_a_traceparent_of_the_same_trace(world, answered, wait_for_event):
    _, codec, _, _ = world
    tenant, _, session, trace_id = answered

    def users_message(message) -> bool:
        recorded = codec.decode(message.value())
        return recorded.meta.tenant_id == tenant and str(getattr(recorded.event, "session_id", "")) == session

    record = wait_for_event(codec.routing.prefix + INBOUND, users_message, timeout=20)
    traceparent = header(record.headers())
    assert traceparent is not None and traceparent.split("-")[1] == f"{trace_id:032x}"
    assert codec.decode(record.value()).meta.trace.traceparent.split("-")[1] == f"{trace_id:032x}"


def test_get_trace_returns_the_waterfall_to_its_tenant_only(world, answered):
    api, _, _, _ = world
    _, headers, _, trace_id = answered
    hex_id = f"{trace_id:032x}"
    _, stranger = api.tenant()
    with api.client() as client:
        body = eventually(
            lambda: (r := client.get(f"/v1/traces/{hex_id}", headers=headers)).status_code == 200 and r.json()
        )
        other = client.get(f"/v1/traces/{hex_id}", headers=stranger)
        unknown = client.get(f"/v1/traces/{uuid.uuid4().hex}", headers=headers)
        malformed = client.get("/v1/traces/not-a-trace-id", headers=headers)
        zeros = client.get(f"/v1/traces/{'0' * 32}", headers=headers)

    spans = body["spans"]
    assert spans[0]["name"] == "POST /v1/session/message" and spans[0]["offset_ms"] == 0
    assert [s["start_unix_nano"] for s in spans] == sorted(s["start_unix_nano"] for s in spans)
    assert all(s["trace_id"] == hex_id and s["duration_ms"] >= 0 for s in spans)
    assert {"conversation.turn", "tool.run calculator", "model.call"} <= {s["name"] for s in spans}
    assert body["duration_ms"] >= max(s["offset_ms"] for s in spans)
    assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"
    assert unknown.status_code == 404
    assert malformed.status_code == 422
    assert zeros.status_code == 404  # well-formed (Schemathesis sends it), W3C's invalid id: no trace has it


@pytest.fixture(scope="module")
def api_process(servers, registry, tmp_path_factory) -> Iterator:
    """`agentlog api` as a child process, started by `start(tracing)` on a schema and Redis prefix of its own."""
    unique = uuid.uuid4().hex[:8]
    schema, prefix = f"trace_{unique}", f"trace:{unique}:"
    migrate(servers.postgres_dsn, schema)
    logs = tmp_path_factory.mktemp("tracing-api")
    with registered_codec(servers, registry) as codec:
        env = {**servers.as_env(), "AGENTLOG_DB_SCHEMA": schema, "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
               "AGENTLOG_REDIS_PREFIX": prefix, "OTEL_BSP_SCHEDULE_DELAY": "100"}  # fmt: skip
        processes = Processes(env, logs)
        try:
            yield lambda tracing: _start_api(processes, servers, schema, tracing), prefix, schema
        finally:
            processes.stop_all()
            drop_schema(servers.postgres_dsn, schema)
            drop_keys(servers.redis_url, prefix)


def _start_api(processes: Processes, servers, schema: str, tracing: str) -> tuple[str, dict[str, str]]:
    name, port = f"api-{tracing}", free_port()
    processes.start(name, "api", AGENTLOG_API_PORT=str(port), AGENTLOG_TRACING=tracing,
                    AGENTLOG_REDIS_PREFIX=f"{processes.env['AGENTLOG_REDIS_PREFIX']}{tracing}:")  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    until(lambda: answers(f"{url}/health"), f"the API ({name}) answering")
    return url, {"X-API-Key": asyncio.run(_key(servers.postgres_dsn, schema))}


async def _key(dsn: str, schema: str) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, server_settings={"search_path": schema})
    try:
        tenant = f"t{uuid.uuid4().hex[:10]}"
        await Tenants(pool).create(tenant)
        return (await Tenants(pool).add_key(tenant, []))[1]
    finally:
        await pool.close()


def _caller_trace() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


def test_an_api_process_with_tracing_on_keeps_its_spans_in_redis_for_the_waterfall(api_process, servers):
    start, prefix, _ = api_process
    url, headers = start("true")
    trace_id, traceparent = _caller_trace()
    with httpx.Client(base_url=url, timeout=10) as client:
        posted = client.post(
            "/v1/session/message", json={"message": "hi"}, headers={**headers, "traceparent": traceparent}
        )
        assert posted.status_code in (200, 201, 202), posted.text

        def both() -> dict | None:  # the append's span ends first and may be stored a batch before the request's
            found = client.get(f"/v1/traces/{trace_id}", headers=headers)
            body = found.json() if found.status_code == 200 else None
            kinds = {s["kind"] for s in body["spans"]} if body else set()
            return body if {"server", "client"} <= kinds else None

        body = eventually(both, timeout=30)

    spans = body["spans"]
    assert spans[0]["name"] == "POST /v1/session/message" and spans[0]["parent_span_id"] == traceparent.split("-")[2]
    assert spans[0]["service"] == "agentlog-api" and spans[0]["kind"] == "server"
    assert spans[0]["attributes"]["http.response.status_code"] == posted.status_code
    appends = [s for s in spans if s["name"] == "eventstore.append"]
    assert appends and all(s["parent_span_id"] == spans[0]["span_id"] for s in appends)
    assert all(s["attributes"]["db.system.name"] == "postgresql" for s in appends)
    ttl = redis.Redis.from_url(servers.redis_url).ttl(f"{prefix}true:trace:{trace_id}")
    assert 0 < ttl <= 3600


def test_an_api_process_with_tracing_off_records_no_span_and_the_events_keep_the_callers_traceparent(
    api_process, servers
):
    start, prefix, schema = api_process
    url, headers = start("false")
    trace_id, traceparent = _caller_trace()
    with httpx.Client(base_url=url, timeout=10) as client:
        posted = client.post(
            "/v1/session/message", json={"message": "hi"}, headers={**headers, "traceparent": traceparent}
        )
        assert posted.status_code in (200, 201, 202), posted.text
        time.sleep(0.5)  # five times the export delay: a span recorded would be in Redis by now
        missing = client.get(f"/v1/traces/{trace_id}", headers=headers)
    assert missing.status_code == 404
    assert not redis.Redis.from_url(servers.redis_url).keys(f"{prefix}false:trace:*")
    with psycopg.connect(servers.postgres_dsn, options=f"-c search_path={schema}") as conn:
        stored = conn.execute(
            "SELECT traceparent FROM events WHERE traceparent LIKE %s", (f"00-{trace_id}-%",)
        ).fetchall()
    assert stored and {row[0] for row in stored} == {traceparent}


def test_an_outcome_is_named_on_its_span_and_a_failure_is_recorded_with_its_traceback(world):
    _, _, spans, _ = world
    with pytest.raises(ConcurrencyConflict), tracing.span("test.outcome", outcomes=(ConcurrencyConflict,)):
        raise ConcurrencyConflict("s-1", 1, 2)  # a refused append: an answer, not a failure
    with pytest.raises(ValueError, match="boom"), tracing.span("test.failure", outcomes=(ConcurrencyConflict,)):
        raise ValueError("boom")

    finished = {s.name: s for s in spans.get_finished_spans() if s.name.startswith("test.")}
    outcome, failure = finished["test.outcome"], finished["test.failure"]
    assert attrs(outcome)["agentlog.outcome"] == "ConcurrencyConflict"
    assert (outcome.status.status_code, outcome.events) == (StatusCode.UNSET, ())
    assert failure.status.status_code is StatusCode.ERROR and failure.status.description == "ValueError: boom"
    [recorded] = failure.events
    assert recorded.name == "exception" and "raise ValueError" in str(dict(recorded.attributes or {}))
