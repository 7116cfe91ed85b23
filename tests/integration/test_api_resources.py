"""Tools, budgets, delegation and model profiles over HTTP on the running system: writes read back, errors."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest

from domain.budget.commands import ConsumeTokens
from domain.budget.errors import BudgetExhausted
from domain.budget.service import consume_tokens
from domain.tool.commands import CompleteTool, DenyTool, TimeOutTool
from domain.tool.service import complete_tool, deny_tool, time_out_tool
from tests.support.api import eventually

DAY = date(2030, 1, 15)


def problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """The problem+json body of an error response, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].startswith("urn:agentlog:problem:") and body["title"] and body["detail"]
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field
    return body


def read(client: httpx.Client, path: str, headers: dict[str, str], position: int | None = None) -> httpx.Response:
    return client.get(path, params={"min_position": position} if position else None, headers=headers)


def new_session(client: httpx.Client, headers: dict[str, str]) -> str:
    """A session of the caller's, for commands that refer to one."""
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)
    assert posted.status_code == 202, posted.text
    return str(posted.json()["session_id"])


# tools


def test_a_tool_invocation_reads_back_requested_then_completed(api, client, worker):
    tenant, headers = api.tenant()
    session = new_session(client, headers)
    body = {"arguments": {"q": "revenue", "n": [1, 2]}, "session_id": session, "timeout_ms": 5000}
    invoked = client.post("/v1/tools/web.search/invocations", json=body, headers=headers)
    assert invoked.status_code == 202, invoked.text
    request_id = invoked.json()["request_id"]

    requested = read(client, f"/v1/tool-executions/{request_id}", headers, invoked.json()["position"])
    done = worker(
        complete_tool, tenant, CompleteTool(request_id=uuid.UUID(request_id), result_json='{"hits": 3}', duration_ms=12)
    )
    completed = read(client, f"/v1/tool-executions/{request_id}", headers, done.position)

    assert requested.status_code == 200, requested.text
    assert requested.json() == {
        "request_id": request_id,
        "tool_name": "web.search",
        "arguments": {"q": "revenue", "n": [1, 2]},
        "session_id": session,
        "status": "requested",
        "result": None,
        "error": None,
        "reason": None,
        "policy": None,
        "duration_ms": None,
        "timed_out": None,
        "decision": None,
        "decision_reason": None,
        "decision_policy": None,
        "approver": None,
        "approval_note": None,
        "approval_expires_at": None,
    }
    assert completed.json() | {"arguments": None} == requested.json() | {
        "status": "completed",
        "result": {"hits": 3},
        "duration_ms": 12,
        "arguments": None,
    }


def test_timed_out_and_denied_tool_executions_show_their_outcome(api, client, worker):
    tenant, headers = api.tenant()
    ids = [client.post("/v1/tools/shell/invocations", json={}, headers=headers).json()["request_id"] for _ in "ab"]
    late = worker(time_out_tool, tenant, TimeOutTool(request_id=uuid.UUID(ids[0])))
    denied = worker(
        deny_tool, tenant, DenyTool(request_id=uuid.UUID(ids[1]), reason="not for you", policy="allow-list")
    )

    timed_out = read(client, f"/v1/tool-executions/{ids[0]}", headers, late.position).json()
    refused = read(client, f"/v1/tool-executions/{ids[1]}", headers, denied.position).json()

    assert timed_out["arguments"] == {}
    assert (timed_out["status"], timed_out["timed_out"], timed_out["duration_ms"]) == ("timed_out", True, 30_000)
    assert timed_out["error"] == "timed out after 30000 ms"
    assert (refused["status"], refused["reason"], refused["policy"]) == ("denied", "not for you", "allow-list")


def test_a_missing_or_another_tenants_tool_execution_is_not_found(api, client):
    _, owner = api.tenant()
    _, stranger = api.tenant()
    invoked = client.post("/v1/tools/calc/invocations", json={"arguments": {"x": 1}}, headers=owner).json()
    path = f"/v1/tool-executions/{invoked['request_id']}"
    assert read(client, path, owner, invoked["position"]).status_code == 200

    problem(read(client, path, stranger, invoked["position"]), 404)
    problem(client.get(f"/v1/tool-executions/{uuid.uuid4()}", headers=owner), 404)
    problem(client.get(path), 401)
    problem(client.post("/v1/tools/calc/invocations", json={}), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"arguments": {}, "extra": 1}, "extra"),
        ({"arguments": [1, 2]}, "arguments"),
        ({"arguments": "x"}, "arguments"),
        ({"session_id": "not-a-uuid"}, "session_id"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": 600_001}, "timeout_ms"),
        ({"timeout_ms": "soon"}, "timeout_ms"),
    ],
)
def test_invalid_tool_invocations_are_refused(api, client, body, field):
    _, headers = api.tenant()
    problem(client.post("/v1/tools/calc/invocations", json=body, headers=headers), 422, field)


def test_bad_tool_names_and_request_ids_are_refused(api, client):
    _, headers = api.tenant()
    problem(client.post("/v1/tools/bad%20name/invocations", json={}, headers=headers), 422, "path.name")
    problem(client.post(f"/v1/tools/{'x' * 101}/invocations", json={}, headers=headers), 422, "path.name")
    problem(client.get("/v1/tool-executions/123", headers=headers), 422, "path.request_id")
    nan = client.post(
        "/v1/tools/calc/invocations",
        content=b'{"arguments": {"x": NaN}}',
        headers=headers | {"content-type": "application/json"},
    )
    problem(nan, 422, "arguments")


# budgets


def test_limits_set_by_an_admin_apply_to_the_tenants_usage(api, client, worker):
    tenant, admin = api.tenant("admin")
    persona = client.put(
        f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 100, "persona_id": "helper"}, headers=admin
    )
    default = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 1000}, headers=admin)
    assert persona.status_code == default.status_code == 200, persona.text
    assert persona.json() | {"event_id": None, "position": None} == {
        "tenant_id": tenant,
        "persona_id": "helper",
        "daily_tokens": 100,
        "event_id": None,
        "position": None,
    }
    assert default.json()["persona_id"] is None and default.json()["position"] > persona.json()["position"]

    worker(consume_tokens, tenant, ConsumeTokens(tenant_id=tenant, persona_id="helper", day=DAY, tokens=60))
    with pytest.raises(BudgetExhausted):
        worker(consume_tokens, tenant, ConsumeTokens(tenant_id=tenant, persona_id="helper", day=DAY, tokens=50))
    worker(consume_tokens, tenant, ConsumeTokens(tenant_id=tenant, persona_id="other", day=date(2030, 1, 16), tokens=5))

    usage = eventually(lambda: _usage(client, admin, refused=1, rows=2))
    assert usage == [
        {"persona_id": "helper", "day": "2030-01-15", "used": 60, "limit": 100, "remaining": 40, "refused": 1},
        {"persona_id": "other", "day": "2030-01-16", "used": 5, "limit": 1000, "remaining": 995, "refused": 0},
    ]
    one_day = client.get("/v1/budgets", params={"day": "2030-01-16"}, headers=admin).json()["items"]
    assert [row["persona_id"] for row in one_day] == ["other"]
    assert client.get("/v1/budgets", headers=api.tenant()[1]).json() == {"items": []}


def _usage(client: httpx.Client, headers: dict[str, str], refused: int, rows: int) -> list[dict] | None:
    items = client.get("/v1/budgets", headers=headers).json()["items"]
    return items if len(items) == rows and sum(row["refused"] for row in items) == refused else None


def test_setting_limits_needs_the_admin_scope_and_valid_values(api, client):
    tenant, plain = api.tenant()
    _, admin = api.tenant("admin")
    path = f"/v1/budgets/{tenant}/limits"

    assert problem(client.put(path, json={"daily_tokens": 1}, headers=plain), 403)["type"].endswith("forbidden")
    problem(client.put(path, json={"daily_tokens": 1}), 401)
    problem(client.get("/v1/budgets"), 401)
    problem(client.put(path, json={"daily_tokens": -1}, headers=admin), 422, "daily_tokens")
    problem(client.put(path, json={"daily_tokens": "many"}, headers=admin), 422, "daily_tokens")
    problem(client.put(path, json={"daily_tokens": 1, "persona": "x"}, headers=admin), 422, "persona")
    problem(client.put(path, json={"daily_tokens": 1, "persona_id": ""}, headers=admin), 422, "persona_id")
    problem(
        client.put("/v1/budgets/Not%20A%20Tenant/limits", json={"daily_tokens": 1}, headers=admin), 422, "path.tenant"
    )
    problem(client.get("/v1/budgets", params={"day": "yesterday"}, headers=admin), 422, "query.day")


# delegation


def test_a_task_goes_from_queued_to_running_to_completed(api, client):
    _, headers = api.tenant()
    parent = new_session(client, headers)
    body = {
        "title": "Summarise",
        "instructions": "three bullets",
        "callback_url": "https://cb.example/x",
        "parent_session_id": parent,
    }
    created = client.post("/v1/delegation/tasks", json=body, headers=headers)
    assert created.status_code == 202, created.text
    task = created.json()["task_id"]
    path = f"/v1/delegation/tasks/{task}"

    queued = read(client, path, headers, created.json()["position"]).json()
    started = client.post(f"{path}/start", json={"worker": "worker-7"}, headers=headers)
    running = read(client, path, headers, started.json()["position"]).json()
    completed = client.post(f"{path}/complete", json={"result": "- up 4%"}, headers=headers)
    done = read(client, path, headers, completed.json()["position"]).json()

    assert queued == {
        "task_id": task,
        "status": "queued",
        "title": "Summarise",
        "instructions": "three bullets",
        "parent_session_id": parent,
        "worker": None,
        "result": None,
        "error": None,
        "callback_url": "https://cb.example/x",
        "callback_delivered": False,
        "callback_status_code": None,
        "callback_attempts": 0,
    }
    assert started.status_code == completed.status_code == 202 and started.json()["task_id"] == task
    assert running == queued | {"status": "running", "worker": "worker-7"}
    assert done == running | {"status": "completed", "result": "- up 4%"}


def test_a_failed_task_shows_its_error_and_a_wrong_transition_is_a_conflict(api, client):
    _, headers = api.tenant()
    task = client.post("/v1/delegation/tasks", json={"title": "t", "instructions": "i"}, headers=headers).json()[
        "task_id"
    ]
    path = f"/v1/delegation/tasks/{task}"

    early = client.post(f"{path}/complete", json={"result": ""}, headers=headers)
    client.post(f"{path}/start", json={"worker": "w"}, headers=headers)
    failed = client.post(f"{path}/fail", json={"error": "source unavailable"}, headers=headers)
    again = client.post(f"{path}/start", json={"worker": "w"}, headers=headers)

    assert problem(early, 409)["detail"] == "cannot complete a task that is queued"
    assert problem(again, 409)["type"] == "urn:agentlog:problem:state-conflict"
    shown = read(client, path, headers, failed.json()["position"]).json()
    assert (shown["status"], shown["error"], shown["result"], shown["callback_url"]) == (
        "failed",
        "source unavailable",
        None,
        None,
    )


def test_a_missing_or_another_tenants_task_is_not_found(api, client):
    _, owner = api.tenant()
    _, stranger = api.tenant()
    created = client.post("/v1/delegation/tasks", json={"title": "t", "instructions": "i"}, headers=owner).json()
    path = f"/v1/delegation/tasks/{created['task_id']}"
    assert read(client, path, owner, created["position"]).status_code == 200

    problem(read(client, path, stranger, created["position"]), 404)
    problem(client.post(f"{path}/start", json={"worker": "w"}, headers=stranger), 404)
    problem(client.get(f"/v1/delegation/tasks/{uuid.uuid4()}", headers=owner), 404)
    problem(client.post(f"/v1/delegation/tasks/{uuid.uuid4()}/start", json={"worker": "w"}, headers=owner), 404)
    problem(client.get(path), 401)
    problem(client.post(f"{path}/start", json={"worker": "w"}), 401)
    assert read(client, path, owner).json()["status"] == "queued"  # the stranger changed nothing


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"title": "t", "instructions": "i", "priority": 1}, "priority"),
        ("", {"title": "", "instructions": "i"}, "title"),
        ("", {"instructions": "i"}, "title"),
        ("", {"title": "t", "instructions": "i", "callback_url": "ftp://x.example"}, "callback_url"),
        ("", {"title": "t", "instructions": "i", "parent_session_id": "nope"}, "parent_session_id"),
        ("/{task}/start", {"worker": 7}, "worker"),
        ("/{task}/start", {}, "worker"),
        ("/{task}/fail", {"error": ""}, "error"),
        ("/not-a-uuid/complete", {"result": "r"}, "path.task_id"),
    ],
)
def test_invalid_delegation_requests_are_refused(api, client, path, body, field):
    _, headers = api.tenant()
    url = "/v1/delegation/tasks" + path.format(task=uuid.uuid4())
    problem(client.post(url, json=body, headers=headers), 422, field)


# model profiles


def _profile(**changes: object) -> dict[str, object]:
    body = {
        "model": "gpt-4o-mini",
        "base_url": "https://llm.example",
        "api_path": "/v1/chat/completions",
        "temperature": 0.2,
        "extras": {"max_tokens": "1024"},
    }
    return body | changes


def test_a_model_profile_is_set_replaced_read_and_removed(api, client):
    _, admin = api.tenant("platform-admin")
    _, reader = api.tenant()
    path = f"/v1/model-profiles/role-{uuid.uuid4().hex[:8]}/cloud"

    first = client.put(path, json=_profile(), headers=admin)
    shown = read(client, path, reader, first.json()["position"])
    replaced = client.put(path, json=_profile(temperature=1, extras={}), headers=admin)
    shown_again = read(client, path, reader, replaced.json()["position"]).json()
    removed = client.delete(path, headers=admin)

    assert first.status_code == 200, first.text
    role = path.split("/")[3]
    assert first.json() | {"event_id": None, "position": None} == {
        "role": role,
        "deployment_mode": "cloud",
        "event_id": None,
        "position": None,
    }
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"role": role, "deployment_mode": "cloud"} | _profile()
    assert shown_again == shown.json() | {"temperature": 1.0, "extras": {}}
    assert removed.status_code == 200 and removed.json()["position"] > replaced.json()["position"]
    problem(read(client, path, reader, removed.json()["position"]), 404)
    problem(client.delete(path, headers=admin), 404)


def test_model_profile_writes_need_platform_admin_and_a_profile_never_set_is_not_found(api, client):
    _, admin = api.tenant("platform-admin")
    _, plain = api.tenant()
    path = f"/v1/model-profiles/role-{uuid.uuid4().hex[:8]}/local"

    problem(client.get(path, headers=plain), 404)
    problem(client.delete(path, headers=admin), 404)
    problem(client.put(path, json=_profile(), headers=plain), 403)
    problem(client.delete(path, headers=plain), 403)
    for response in (client.put(path, json=_profile()), client.get(path), client.delete(path)):
        problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_profile(temperature=2.5), "temperature"),
        (_profile(temperature=-0.1), "temperature"),
        (_profile(temperature="hot"), "temperature"),
        (_profile(temperature="0.5"), "temperature"),
        (_profile(base_url="javascript:alert(1)"), "base_url"),
        (_profile(base_url="ftp://llm.example"), "base_url"),
        (_profile(base_url="not a url"), "base_url"),
        (_profile(api_path="v1/chat"), "api_path"),
        (_profile(model=""), "model"),
        (_profile(extras={"n": 1}), "extras.n"),
        (_profile(top_p=0.9), "top_p"),
    ],
)
def test_invalid_model_profiles_are_refused(api, client, body, field):
    _, admin = api.tenant("platform-admin")
    problem(client.put(f"/v1/model-profiles/role-{uuid.uuid4().hex[:8]}/cloud", json=body, headers=admin), 422, field)


def test_roles_and_modes_that_cannot_name_a_profile_are_refused(api, client):
    _, admin = api.tenant("platform-admin")
    problem(client.put("/v1/model-profiles/a:b/cloud", json=_profile(), headers=admin), 422, "path.role")
    problem(client.get(f"/v1/model-profiles/r/{'m' * 101}", headers=admin), 422, "path.deployment_mode")
