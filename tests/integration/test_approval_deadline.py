"""Approval deadlines on the real servers: a tool call nobody approves ends timed out when its deadline passes, the
conversation's reply says so, a late approval is a 409, and an executor that was stopped past the deadline
enforces it when it starts again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.routing import TOOL_REQUESTS
from eventstore.store import PostgresEventStore
from tests.conftest import registered_codec
from tests.integration.test_api_resources import problem
from tests.support.api import eventually, running_api
from tests.support.conversation import events, post, settings_for, wait_for_reply, worker_running
from tests.support.tools import allowing, for_tenant, policy_folder
from workers.runtime import Worker, id_for
from workers.tools.deadlines import Deadlines
from workers.tools.executor import Executor
from workers.tools.policy import FailClosed, RegoFiles
from workers.tools.registry import Registry
from workers.tools.settings import ToolSettings
from workers.tools.worker import builtin_tools

DEADLINE_S = 2.0  # the approval timeout of these tests' executors
NOBODY = "nobody approved or denied it before its approval deadline"


@pytest.fixture(scope="module")
def world(servers, registry):
    """An API of this module's own with the conversation worker beside it (tool calls: 1 s timeout, 1 s grace)."""
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        settings = settings_for(api, codec, servers, conversation_tool_timeout_ms=1000, conversation_tool_grace=1)
        with worker_running(api, codec, settings):
            yield api, codec


@pytest.fixture
def client(world):
    with world[0].client() as client:
        yield client


@contextmanager
def executor_running(api, codec, folder: Path, tenant: str) -> Iterator[None]:
    """The tool executor of `tenant` (its Kafka group, approval timeout DEADLINE_S, the deadlines looked at every
    0.2 s) on the API's loop, with an event store of its own, until the block ends."""
    stop = asyncio.Event()

    async def serve() -> None:
        store = await PostgresEventStore.connect(api.settings.postgres_dsn, codec, schema=api.settings.db_schema)
        policy = FailClosed(RegoFiles(folder))
        executor = Executor(store, policy, Registry(builtin_tools(ToolSettings())), approval_timeout=DEADLINE_S)
        worker = Worker(f"tools-{tenant}", [TOOL_REQUESTS], codec, api.settings.kafka_bootstrap_servers,
                        for_tenant(tenant, executor.handle))  # fmt: skip
        try:
            await asyncio.gather(worker.run(stop), Deadlines(store).run(stop, 0.2))
        finally:
            await store.close()

    running = asyncio.run_coroutine_threadsafe(serve(), api.loop)
    try:
        yield
    finally:
        api.loop.call_soon_threadsafe(stop.set)
        running.result(30)


def execution(client, headers, request_id: str, *statuses: str, timeout: float = 30) -> dict:
    def reached() -> dict | None:
        body = client.get(f"/v1/tool-executions/{request_id}", headers=headers).json()
        return body if body.get("status") in statuses else None

    return eventually(reached, timeout=timeout)


def past(moment: str) -> None:
    """Wait until the clock is past `moment` (ISO 8601)."""
    deadline = datetime.fromisoformat(moment)
    while datetime.now(UTC) <= deadline:
        time.sleep(0.05)


def test_a_call_nobody_approves_ends_timed_out_at_its_deadline_and_the_reply_says_so(world, client, tmp_path):
    api, codec = world
    tenant, approver = api.tenant("approve")
    folder = policy_folder(tmp_path, **{tenant: allowing("calculator", approve=("echo",))})

    with executor_running(api, codec, folder, tenant):
        began = time.monotonic()
        session = post(client, approver, "echo ship it").json()["session_id"]
        [reply] = wait_for_reply(client, approver, session, timeout=30)

    assert reply["text"].startswith(f"The echo tool timed out: {NOBODY}, ")
    assert time.monotonic() - began >= DEADLINE_S
    question = next(e for e in events(client, approver, session) if e["data"].get("role") == "user")
    request_id = str(id_for(uuid.UUID(question["event_id"]), "tool:0:0"))  # the conversation's first call
    ended = execution(client, approver, request_id, "timed_out")
    assert (ended["timed_out"], ended["decision"], ended["approver"]) == (True, "approve", None)
    assert ended["error"].startswith(NOBODY) and ended["approval_expires_at"]
    late = problem(client.post(f"/v1/tool-executions/{request_id}/approve", headers=approver), 409)
    assert "not awaiting approval (it is timed_out)" in late["detail"]


def test_a_deadline_that_passed_while_the_executor_was_stopped_is_enforced_when_it_starts_again(
    world, client, tmp_path
):
    api, codec = world
    tenant, approver = api.tenant("approve")
    folder = policy_folder(tmp_path, **{tenant: allowing("calculator", approve=("echo",))})
    with executor_running(api, codec, folder, tenant):
        invoked = client.post("/v1/tools/echo/invocations", json={"arguments": {"text": "x"}}, headers=approver)
        request_id = invoked.json()["request_id"]
        waiting = execution(client, approver, request_id, "awaiting_approval")

    past(waiting["approval_expires_at"])  # the executor is stopped: nobody ends it yet
    assert execution(client, approver, request_id, "awaiting_approval")["approval_expires_at"]
    late = problem(client.post(f"/v1/tool-executions/{request_id}/approve", headers=approver), 409)
    assert late["detail"].startswith(f"too late: {NOBODY}") and late["detail"].endswith("it ends timed_out")
    problem(client.post(f"/v1/tool-executions/{request_id}/deny", headers=approver), 409)

    with executor_running(api, codec, folder, tenant):  # a new executor: nothing remembered but the store
        ended = execution(client, approver, request_id, "timed_out", "completed", "denied", timeout=15)

    assert (ended["status"], ended["timed_out"], ended["duration_ms"]) == ("timed_out", True, 0)
    assert ended["error"] == late["detail"].removeprefix("too late: ").removesuffix("; it ends timed_out")


def test_an_approval_before_the_deadline_runs_the_call_and_the_deadline_then_changes_nothing(world, client, tmp_path):
    api, codec = world
    tenant, approver = api.tenant("approve")
    folder = policy_folder(tmp_path, **{tenant: allowing("calculator", approve=("echo",))})
    with executor_running(api, codec, folder, tenant):
        invoked = client.post("/v1/tools/echo/invocations", json={"arguments": {"text": "go"}}, headers=approver)
        request_id = invoked.json()["request_id"]
        waiting = execution(client, approver, request_id, "awaiting_approval")
        assert client.post(f"/v1/tool-executions/{request_id}/approve", headers=approver).status_code == 202
        done = execution(client, approver, request_id, "completed", "timed_out", "failed")
        past(waiting["approval_expires_at"])
        time.sleep(0.5)  # a few looks at the deadlines after it passed

    again = client.get(f"/v1/tool-executions/{request_id}", headers=approver).json()
    assert (done["status"], again["status"], again["result"]) == ("completed", "completed", {"text": "go"})
