"""Human approval through the API: a call policy leaves to a person waits as awaiting_approval until
POST /v1/tool-executions/{id}/approve (then the executor runs it) or /deny (then it ends denied)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from contracts.routing import TOOL_REQUESTS
from eventstore.store import PostgresEventStore
from tests.integration.test_api_resources import problem
from tests.support.api import eventually
from tests.support.tools import allowing, executor, for_tenant, policy_folder
from workers.runtime import Worker


@pytest.fixture
def approvals(api, codec, tmp_path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A tenant whose policy asks a person about echo, an approver's and a plain key, and an executor running
    for it on the API's store and topics (in the API's event loop) until the test ends."""
    tenant, approver = api.tenant("approve")
    plain = {"X-API-Key": _key(api, tenant)}  # no scope: may invoke, may not approve
    folder = policy_folder(tmp_path, **{tenant: allowing("calculator", approve=("echo",))})
    stop = asyncio.Event()

    async def serve() -> None:
        store = await PostgresEventStore.connect(api.settings.postgres_dsn, codec, schema=api.settings.db_schema)
        handle = for_tenant(tenant, executor(store, folder).handle)
        worker = Worker(f"tools-{uuid.uuid4().hex[:6]}", [TOOL_REQUESTS], codec, api.settings.kafka_bootstrap_servers,
                        handle)  # fmt: skip
        try:
            await worker.run(stop)
        finally:
            await store.close()

    running = asyncio.run_coroutine_threadsafe(serve(), api.loop)
    yield tenant, approver, plain
    api.loop.call_soon_threadsafe(stop.set)
    running.result(30)


def _key(api, tenant: str) -> str:
    async def make() -> str:
        return (await api.tenants.add_key(tenant, []))[1]

    return asyncio.run_coroutine_threadsafe(make(), api.loop).result(10)


def invoke(client, headers, tool: str, **arguments) -> str:
    invoked = client.post(f"/v1/tools/{tool}/invocations", json={"arguments": arguments}, headers=headers)
    assert invoked.status_code == 202, invoked.text
    return str(invoked.json()["request_id"])


def status_of(client, headers, request_id: str, *statuses: str) -> dict:
    def reached() -> dict | None:
        body = client.get(f"/v1/tool-executions/{request_id}", headers=headers).json()
        return body if body.get("status") in statuses else None

    return eventually(reached, timeout=30)


def test_an_approved_call_runs_and_completes(api, client, approvals):
    _, approver, plain = approvals
    request_id = invoke(client, plain, "echo", text="ship it")

    waiting = status_of(client, plain, request_id, "awaiting_approval")
    assert (waiting["decision"], waiting["decision_reason"]) == ("approve", "a person approves this tool")
    assert waiting["result"] is None

    problem(client.post(f"/v1/tool-executions/{request_id}/approve", headers=plain), 403)
    approved = client.post(f"/v1/tool-executions/{request_id}/approve", json={"note": "fine"}, headers=approver)
    assert approved.status_code == 202, approved.text

    done = status_of(client, plain, request_id, "completed", "failed", "denied")
    assert (done["status"], done["result"]) == ("completed", {"text": "ship it"})
    assert done["approver"].startswith("key:")
    assert done["approval_note"] == "fine"
    again = problem(client.post(f"/v1/tool-executions/{request_id}/approve", headers=approver), 409)
    assert "not awaiting approval (it is completed)" in again["detail"]


def test_a_denied_call_ends_denied_with_the_approvers_reason(api, client, approvals):
    _, approver, plain = approvals
    request_id = invoke(client, plain, "echo", text="rm -rf")
    status_of(client, plain, request_id, "awaiting_approval")

    denied = client.post(f"/v1/tool-executions/{request_id}/deny", json={"reason": "not this one"}, headers=approver)
    assert denied.status_code == 202, denied.text

    done = status_of(client, plain, request_id, "denied", "completed")
    assert (done["status"], done["reason"], done["policy"]) == ("denied", "not this one", "human approval")
    assert done["approver"].startswith("key:")
    problem(client.post(f"/v1/tool-executions/{request_id}/approve", headers=approver), 409)


def test_only_the_tenants_approvers_reach_its_executions_and_only_those_awaiting(api, client, approvals):
    _, approver, plain = approvals
    allowed = invoke(client, plain, "calculator", expression="6 * 7")
    done = status_of(client, plain, allowed, "completed")
    assert (done["result"]["result"], done["decision"]) == ("42", "allow")
    problem(client.post(f"/v1/tool-executions/{allowed}/deny", headers=approver), 409)

    waiting = invoke(client, plain, "echo", text="x")
    status_of(client, plain, waiting, "awaiting_approval")
    _, other_admin = api.tenant("admin")
    problem(client.post(f"/v1/tool-executions/{waiting}/approve", headers=other_admin), 404)
    problem(client.post(f"/v1/tool-executions/{uuid.uuid4()}/approve", headers=approver), 404)
    problem(client.post(f"/v1/tool-executions/{waiting}/deny", json={"reason": ""}, headers=approver), 422, "reason")
    assert client.get(f"/v1/tool-executions/{waiting}", headers=plain).json()["status"] == "awaiting_approval"
