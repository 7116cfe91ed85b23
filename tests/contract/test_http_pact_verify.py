"""Provider side of the HTTP pacts: every interaction agentlog.client's pact holds, replayed against a
real running API (tests/support/api.py), its provider states set up through real commands.

The tenant and its key are made by the `agentlog tenants` CLI, every other state through the API
itself (with agentlog.client), and tool executions reach `awaiting_approval` through the real tool
executor under a Rego policy that leaves `echo` to a person. A state answers the values the pact's
`${...}` expressions name (ids, the key, the tenant), which the verifier puts into the replayed request.

With PACT_BROKER_BASE_URL set, the pacts come from that broker (latest for the main branch and the
deployed ones) and the results are published to it (see docs/contracts.md, "HTTP pacts").
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pact import Verifier

from agentlog.client import Client
from contracts.routing import TOOL_REQUESTS
from eventstore.store import PostgresEventStore
from tests.support.api import RunningApi, eventually
from tests.support.cli import agentlog
from tests.support.suite import PACT_FILES
from tests.support.tools import allowing, executor, for_tenant, policy_folder
from workers.runtime import Worker

pytestmark = [pytest.mark.contract, PACT_FILES]

PACT = Path(__file__).resolve().parents[2] / "contracts" / "pacts" / "agentlog-client-agentlog-api.json"
PROVIDER = "agentlog-api"
SCOPES = ("admin", "approve", "platform-admin")
PROFILE = {"model": "gpt-4o-mini", "base_url": "https://llm.example.com", "api_path": "/v1/chat/completions",
           "temperature": 0.2, "extras": {"max_tokens": "1024"}}  # fmt: skip
State = Callable[[], dict[str, Any]]


def cli_tenant(api: RunningApi) -> tuple[str, str]:
    """A tenant and an API key with SCOPES, made by `agentlog tenants create` and `tenants keys add`."""
    tenant = f"pact-{uuid.uuid4().hex[:8]}"
    env = {"POSTGRES_DSN": api.settings.postgres_dsn, "AGENTLOG_DB_SCHEMA": api.settings.db_schema}
    created = agentlog("tenants", "create", tenant, env=env)
    added = agentlog("tenants", "keys", "add", tenant, *(f"--scope={s}" for s in SCOPES), env=env)
    assert created.returncode == 0 and added.returncode == 0, (created.stderr, added.stderr)
    return tenant, added.stdout.strip().splitlines()[-1]


def alone(api: RunningApi) -> dict[str, Any]:
    """A tenant of its own (made by the CLI) with one open session: its key and the session's id."""
    _, key = cli_tenant(api)
    with Client(api.url, api_key=key) as client:
        sent = client.post_message("What changed in the Q3 report?", persona_id="helper")
        client.get_session(sent.session_id, min_position=sent.position)
    return {"api_key": key, "session_id": str(sent.session_id)}


def states(api: RunningApi, client: Client, tenant: str, key: str) -> dict[str, State]:
    """Each provider state the pact names, set up through the API; each returns its injected values."""

    def open_session() -> dict[str, Any]:
        sent = client.post_message("What changed in the Q3 report?", persona_id="helper")
        client.get_session(sent.session_id, min_position=sent.position)
        client.list_messages(sent.session_id, min_position=sent.position)  # the transcript view too
        return {"session_id": str(sent.session_id)}

    def awaiting_approval() -> dict[str, Any]:
        invoked = client.invoke_tool("echo", {"text": "hello"})

        def waiting() -> bool:
            read = client.get_tool_execution(invoked.request_id, min_position=invoked.position)
            return read.status == "awaiting_approval"

        eventually(waiting, timeout=30)
        return {"request_id": str(invoked.request_id)}

    def task(*, running: bool) -> dict[str, Any]:
        created = client.create_task("Summarise the Q3 report", "Three bullet points.")
        last = client.start_task(created.task_id, "w-1") if running else created
        client.get_task(created.task_id, min_position=last.position)
        return {"task_id": str(created.task_id)}

    def spent(persona: str) -> dict[str, Any]:
        client.set_budget_limit(tenant, 0, persona_id=persona)
        return {}

    def profile() -> dict[str, Any]:
        put = client.put_model_profile("summarizer", "cloud", **PROFILE)
        client.get_model_profile("summarizer", "cloud", min_position=put.position)
        return {}

    return {
        "a tenant whose API key has the admin, approve and platform-admin scopes": lambda: {
            "api_key": key,
            "tenant": tenant,
        },
        "an open session": open_session,
        "a tenant whose API key has one open session": lambda: alone(api),
        "persona frugal has a daily budget of 0 tokens": lambda: spent("frugal"),
        "a tool execution awaiting approval": awaiting_approval,
        "a model profile for summarizer in cloud": profile,
        "a queued task": lambda: task(running=False),
        "a running task": lambda: task(running=True),
    }


@contextmanager
def state_server(handlers: dict[str, State]) -> Iterator[str]:
    """The provider-state endpoint the verifier POSTs `{"state", "params", "action"}` to; it answers the
    state's values as JSON (what pact-python's function handlers cannot: they answer nothing)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            values = handlers[asked["state"]]() if asked.get("action", "setup") == "setup" else {}
            body = json.dumps(values).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="pact-states", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pact-states"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def tool_executor(api: RunningApi, codec, tmp_path) -> Iterator[Callable[[str], None]]:
    """Runs the tool executor for a tenant (set by calling the fixture) with echo left to a person."""
    stop = asyncio.Event()
    running: list[Any] = []

    def start(tenant: str) -> None:
        folder = policy_folder(tmp_path / "policies", **{tenant: allowing("calculator", approve=("echo",))})

        async def serve() -> None:
            store = await PostgresEventStore.connect(api.settings.postgres_dsn, codec, schema=api.settings.db_schema)
            handle = for_tenant(tenant, executor(store, folder).handle)
            worker = Worker(f"pact-tools-{uuid.uuid4().hex[:6]}", [TOOL_REQUESTS], codec,
                            api.settings.kafka_bootstrap_servers, handle)  # fmt: skip
            try:
                await worker.run(stop)
            finally:
                await store.close()

        running.append(asyncio.run_coroutine_threadsafe(serve(), api.loop))

    yield start
    api.loop.call_soon_threadsafe(stop.set)
    for future in running:
        future.result(30)


def git(*args: str) -> str | None:
    found = subprocess.run(["git", *args], capture_output=True, text=True, check=False, cwd=PACT.parent)
    return found.stdout.strip() or None if found.returncode == 0 else None


def sources(verifier: Verifier) -> Verifier:
    """The local pact file, or with PACT_BROKER_BASE_URL the broker's pacts, results published back."""
    if not os.environ.get("PACT_BROKER_BASE_URL"):
        return verifier.add_source(PACT)
    version = os.environ.get("PACT_PROVIDER_VERSION") or git("rev-parse", "HEAD") or "unknown"
    branch = os.environ.get("PACT_PROVIDER_BRANCH") or git("rev-parse", "--abbrev-ref", "HEAD")
    selected = verifier.broker_source(selector=True)  # URL and credentials from PACT_BROKER_* variables
    selected.consumer_versions('{"mainBranch": true}', '{"deployedOrReleased": true}').include_pending()
    return selected.build().set_publish_options(version=version, branch=branch)


def test_the_api_honours_every_interaction_of_the_clients_pact(api: RunningApi, tool_executor):
    tenant, key = cli_tenant(api)
    tool_executor(tenant)
    with Client(api.url, api_key=key) as client, state_server(states(api, client, tenant, key)) as url:
        verifier = Verifier(PROVIDER, host="127.0.0.1").add_transport(url=api.url)
        verifier = sources(verifier).state_handler(url, body=True).set_request_timeout(30_000)
        failed = None
        try:
            verifier.verify()
        except RuntimeError as e:  # the verifier's summary says which interactions failed and why
            failed = f"{e}\n{verifier.output(strip_ansi=True)}"
    assert failed is None, failed
