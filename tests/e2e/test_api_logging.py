"""`agentlog api` logging as an operator reads it: JSON lines through one handler, naming request and tenant."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stack.ports import free_port
from tests.support.cli import AGENTLOG, agentlog, child_env

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def tenant_key(servers, pg_schema) -> tuple[str, str]:
    """A tenant with an API key in a migrated schema of the test's own, made with the CLI."""
    env = {**servers.as_env(), "AGENTLOG_DB_SCHEMA": pg_schema.name}
    assert agentlog("db", "migrate", env=env).returncode == 0
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    assert agentlog("tenants", "create", tenant, env=env).returncode == 0
    added = agentlog("tenants", "keys", "add", tenant, env=env)
    assert added.returncode == 0, added.stderr
    return tenant, added.stdout.strip()


@dataclass
class JsonApi:
    url: str
    child: subprocess.Popen[bytes]
    log: Path  # its stderr: a file, so the child never blocks on a full pipe however much it logs


@pytest.fixture
def json_api(servers, pg_schema, codec, redis_prefix, tenant_key, tmp_path) -> Iterator[JsonApi]:
    """`agentlog api` with AGENTLOG_LOG_FORMAT=json and request logging on the migrated schema, until the test
    stops it."""
    port = free_port()
    env = {
        **servers.as_env(),
        "AGENTLOG_DB_SCHEMA": pg_schema.name,
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_REDIS_PREFIX": redis_prefix,
        "AGENTLOG_API_PORT": str(port),
        "AGENTLOG_LOG_FORMAT": "json",
        "AGENTLOG_LOG_REQUESTS": "true",
    }
    log = tmp_path / "api.log"
    with log.open("wb") as stderr:
        child = subprocess.Popen([str(AGENTLOG), "api"], env=child_env(env), stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield JsonApi(f"http://127.0.0.1:{port}", child, log)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def wait_until_serving(api: JsonApi, timeout: float = 60.0) -> None:
    """Until uvicorn says it listens (GET /health probes Kafka for every view's lag: seconds on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while "Uvicorn running on" not in api.log.read_text():
        assert api.child.poll() is None, api.log.read_text()
        assert time.monotonic() < deadline, f"the API did not start within {timeout} s: {api.log.read_text()}"
        time.sleep(0.1)


def test_a_request_is_logged_as_json_with_its_request_id_tenant_and_trace_id(json_api, tenant_key):
    tenant, key = tenant_key
    wait_until_serving(json_api)
    headers = {
        "X-API-Key": key,
        "X-Request-ID": f"req-{uuid.uuid4().hex[:8]}",
        "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01",
    }

    answer = httpx.get(f"{json_api.url}/v1/sessions", headers=headers, timeout=10)
    json_api.child.send_signal(signal.SIGTERM)
    json_api.child.wait(timeout=30)
    stderr = json_api.log.read_text()

    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == headers["X-Request-ID"]
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is one JSON record
    [request] = [r for r in records if r.get("request_id") == headers["X-Request-ID"]]
    assert request["logger"] == "agentlog.access"
    assert request["message"].startswith("GET /v1/sessions 200 ")
    assert (request["tenant"], request["trace_id"], request["level"]) == (tenant, TRACE_ID, "info")
    assert request["timestamp"].endswith("Z")
    started = [r for r in records if r["logger"].startswith("uvicorn")]
    assert any("Application startup complete" in r["message"] for r in started)  # INFO kept, one handler
    assert len({(r["timestamp"], r["message"]) for r in records}) == len(records)  # nothing printed twice
