"""`agentlog worker tools` as its own OS process on the real servers: a policy edited while it runs, http_fetch's
limits, and a clean stop on SIGTERM. (Denials, approvals and the tools in a conversation:
tests/e2e/test_agent_runtime.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import registered_codec
from tests.support.api import eventually, running_api
from tests.support.tools import allowing, policy_folder

PAGE = b"<html>" + b"x" * 5000 + b"</html>"


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page"
    server.shutdown()


def start_worker(api, codec, servers, folder, log, **settings: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "POSTGRES_DSN": api.settings.postgres_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
        "SCHEMA_REGISTRY_URL": servers.schema_registry_url,
        "AGENTLOG_DB_SCHEMA": api.settings.db_schema,
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_TOOLS_POLICY_DIR": str(folder),
        **{f"AGENTLOG_TOOLS_{name.upper()}": value for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "cli.main", "worker", "tools"]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def invoke(client, headers, tool: str, **arguments) -> str:
    invoked = client.post(f"/v1/tools/{tool}/invocations", json={"arguments": arguments}, headers=headers)
    assert invoked.status_code == 202, invoked.text
    return str(invoked.json()["request_id"])


def settled(client, headers, request_id: str, *statuses: str) -> dict:
    def reached() -> dict | None:
        body = client.get(f"/v1/tool-executions/{request_id}", headers=headers).json()
        return body if body.get("status") in (statuses or ("completed", "failed", "timed_out", "denied")) else None

    return eventually(reached, timeout=60)


def test_the_tool_worker_process_applies_an_edited_policy_fetches_within_limits_and_stops_cleanly(
    servers, registry, tmp_path, page
):
    log_path = tmp_path / "worker.log"
    with (
        log_path.open("w") as log,
        registered_codec(servers, registry) as codec,
        running_api(servers, codec) as api,
        api.client() as client,
    ):
        tenant, headers = api.tenant()
        folder = policy_folder(tmp_path / "policies", **{tenant: allowing("http_fetch")})
        worker = start_worker(
            api, codec, servers, folder, log, http_allow_hosts="127.0.0.1", http_allow_private_hosts="127.0.0.1",
            http_max_bytes="1000",
        )  # fmt: skip
        try:
            before = settled(client, headers, invoke(client, headers, "timestamp"))
            assert (before["status"], before["reason"]) == ("denied", "not listed for this tenant")

            (folder / f"{tenant}.rego").write_text(allowing("http_fetch", "timestamp"))
            clock = settled(client, headers, invoke(client, headers, "timestamp"))
            assert clock["status"] == "completed" and clock["result"]["utc"]  # the edit applied, no restart
            assert clock["decision_policy"] == f"rego:{tenant}.rego"

            fetched = settled(client, headers, invoke(client, headers, "http_fetch", url=page))
            assert (fetched["status"], fetched["result"]["status"], fetched["result"]["truncated"]) == (
                "completed",
                200,
                True,
            )
            assert fetched["result"]["text"] == PAGE[:1000].decode()
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(30)
    logged = log_path.read_text()
    assert code == 0, logged
    assert "worker 'tools' running" in logged and "worker 'tools' stopped" in logged


def test_http_fetch_refuses_hosts_not_allowed_and_private_addresses(servers, registry, tmp_path, page):
    with (
        (tmp_path / "worker.log").open("w") as log,
        registered_codec(servers, registry) as codec,
        running_api(servers, codec) as api,
        api.client() as client,
    ):
        _, headers = api.tenant()
        folder = policy_folder(tmp_path / "policies")
        worker = start_worker(api, codec, servers, folder, log, http_allow_hosts="127.0.0.1,localhost")
        try:
            for url in (page, page.replace("127.0.0.1", "localhost")):
                loopback = settled(client, headers, invoke(client, headers, "http_fetch", url=url))
                assert loopback["status"] == "failed"
                assert "a loopback address: http_fetch reaches public addresses only" in loopback["error"]
            elsewhere = settled(client, headers, invoke(client, headers, "http_fetch", url="http://example.com/"))
            assert elsewhere["status"] == "failed"
            assert "'example.com' is not an allowed host" in elsewhere["error"]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
