"""The API's request middleware around a small app of its own: 500s counted, request ids echoed, one traceback."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from api import errors
from api.middleware import RequestGuard
from observability import LogSettings, bind, configure_logging

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """This process's log records as JSON lines; the previous root handlers come back afterwards."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(LogSettings(log_format="json"), stream=stream)
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def path() -> str:
    """The test's own route prefix, so its metric labels are its own."""
    return f"/t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(path: str) -> Iterator[TestClient]:
    """An app with the real error table and RequestGuard: `{path}/bug` raises, `{path}/ok` logs a line."""
    app = FastAPI()
    errors.install(app)
    app.add_middleware(RequestGuard, max_body=2048)

    @app.get(path + "/bug")
    async def bug() -> dict[str, str]:
        raise RuntimeError("a bug in a handler")

    @app.get(path + "/ok")
    async def ok(request: Request) -> dict[str, str]:
        bind(tenant="acme")  # as authentication does
        logging.getLogger("agentlog.api").info("handled %s", request.url.path)
        return {"ok": "yes"}

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def requests_total(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("agentlog_http_requests_total", labels) or 0.0


def test_a_handler_that_raises_is_counted_as_a_500_and_answered_with_the_request_id(client, path, logs):
    route = path + "/bug"

    response = client.get(route, headers={"X-Request-ID": "req-bug-1"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:agentlog:problem:internal-error"
    assert response.headers["X-Request-ID"] == "req-bug-1"
    assert requests_total("GET", route, "500") == 1.0
    records = [json.loads(line) for line in logs.getvalue().splitlines()]
    failures = [r for r in records if r["level"] == "error"]
    assert failures, records
    assert all(r["request_id"] == "req-bug-1" for r in failures)
    assert sum("exception" in r for r in records) == 1  # one traceback, though Starlette re-raises it
    assert "RuntimeError: a bug in a handler" in next(r["exception"] for r in records if "exception" in r)


def test_a_log_record_carries_the_request_id_tenant_and_trace_id(client, path, logs):
    route = path + "/ok"
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

    response = client.get(route, headers={"X-Request-ID": "req-ok-1", "traceparent": traceparent})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-ok-1"
    assert requests_total("GET", route, "200") == 1.0
    [record] = [json.loads(line) for line in logs.getvalue().splitlines() if "handled" in line]
    assert record["message"] == f"handled {route}"
    assert (record["request_id"], record["tenant"], record["trace_id"]) == ("req-ok-1", "acme", TRACE_ID)
    assert record["logger"] == "agentlog.api" and record["level"] == "info"
    assert record["timestamp"].endswith("Z")


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 129, "semi;colon"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, path, sent):
    route = path + "/ok"
    headers = {"X-Request-ID": sent} if sent is not None else {}

    first = client.get(route, headers=headers).headers["X-Request-ID"]
    second = client.get(route, headers=headers).headers["X-Request-ID"]

    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_a_too_large_body_is_a_413_counted_and_echoing_the_request_id(client, path):
    route = path + "/ok"

    response = client.post(route, content=b"x" * 4096, headers={"X-Request-ID": "big-1"})

    assert response.status_code == 413
    assert response.headers["X-Request-ID"] == "big-1"
    assert requests_total("POST", "unmatched", "413") >= 1.0
