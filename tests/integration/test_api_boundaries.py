"""Where the API meets other aggregates and its dependencies: ids of the wrong kind, a read side that is
down, a budget decided on the write side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from cli.provider import serve
from domain.budget.commands import ConsumeTokens
from domain.budget.service import consume_tokens
from stack.ports import free_port
from tests.integration.test_api_resources import problem
from tests.support.api import another_api


def test_an_id_of_another_kind_of_aggregate_is_404_never_its_data(api, client):
    """Sessions, tasks and tool requests share one UUID id space: the stream's type is checked on load."""
    _, headers = api.tenant("admin")
    session = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()["session_id"]
    task = client.post("/v1/delegation/tasks", json={"title": "t", "instructions": "i"}, headers=headers)
    tool = client.post("/v1/tools/echo/invocations", json={"arguments": {}}, headers=headers)
    assert task.status_code == tool.status_code == 202, (task.text, tool.text)
    task_id, tool_id = task.json()["task_id"], tool.json()["request_id"]

    for other in (task_id, tool_id):
        problem(client.post("/v1/session/message", json={"session_id": other, "message": "x"}, headers=headers), 404)
        problem(client.post(f"/v1/sessions/{other}/close", json={}, headers=headers), 404)
        problem(client.get(f"/v1/sessions/{other}/events", headers=headers), 404)
    problem(client.post(f"/v1/delegation/tasks/{session}/start", json={"worker": "w"}, headers=headers), 404)
    problem(client.post(f"/v1/delegation/tasks/{tool_id}/start", json={"worker": "w"}, headers=headers), 404)
    assert client.get(f"/v1/sessions/{session}/events", headers=headers).status_code == 200


def test_with_redis_down_commands_are_accepted_and_reads_are_503_with_retry_after(api):
    """The write path never reads a read model; a read model that cannot be reached is 503, not 500."""
    _, headers = api.tenant("admin")
    down = another_api(api, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with serve(down) as url, api.client() as client:
        client.base_url = url
        accepted = client.post("/v1/session/message", json={"message": "hi", "persona_id": "helper"}, headers=headers)
        assert accepted.status_code == 202, accepted.text
        session = accepted.json()["session_id"]
        again = client.post("/v1/session/message", json={"session_id": session, "message": "more"}, headers=headers)
        assert again.status_code == 202, again.text

        read = problem(client.get(f"/v1/sessions/{session}", headers=headers), 503)
        assert "redis" in read["detail"]
        assert int(client.get(f"/v1/sessions/{session}", headers=headers).headers["Retry-After"]) >= 1
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["dependencies"]["redis"]["status"] == "down"


def test_a_spent_budget_refuses_the_next_message_at_once_from_the_budgets_own_events(api, client, worker):
    """No read model in between: the very next message after the charge that used the budget up is 429,
    also when the API saw the budget partly used before (it never decides on the usage it last saw)."""
    tenant, admin = api.tenant("admin")
    persona = f"p{uuid.uuid4().hex[:6]}"
    assert client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 10, "persona_id": persona}, headers=admin)
    started = client.post("/v1/session/message", json={"message": "hi", "persona_id": persona}, headers=admin)
    assert started.status_code == 202, started.text
    today = datetime.now(UTC).date()
    worker(consume_tokens, tenant, ConsumeTokens(tenant_id=tenant, persona_id=persona, day=today, tokens=4))
    body = {"session_id": started.json()["session_id"], "message": "more"}
    assert client.post("/v1/session/message", json=body, headers=admin).status_code == 202  # 6 left
    worker(consume_tokens, tenant, ConsumeTokens(tenant_id=tenant, persona_id=persona, day=today, tokens=6))

    refused = problem(client.post("/v1/session/message", json=body, headers=admin), 429)
    assert persona in refused["detail"]
    assert int(client.post("/v1/session/message", json=body, headers=admin).headers["Retry-After"]) >= 1
    other = client.post("/v1/session/message", json={"message": "hi", "persona_id": "other"}, headers=admin)
    assert other.status_code == 202, other.text
