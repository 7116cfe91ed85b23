"""agentlog.client against the running API: what a user of the client sees, sync and async."""

from __future__ import annotations

import uuid

import pytest

from agentlog.client import (
    AsyncClient,
    BudgetExhausted,
    Client,
    ClientProblem,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from tests.support.api import RunningApi


def client_of(api: RunningApi, *scopes: str) -> tuple[str, Client]:
    tenant, headers = api.tenant(*scopes)
    return tenant, Client(api.url, api_key=headers["X-API-Key"])


def test_a_session_started_by_a_message_reads_back_streams_and_closes(api):
    _, client = client_of(api)
    with client:
        sent = client.post_message("What changed in Q3?", persona_id="helper", metadata={"lang": "en"})
        session = client.get_session(sent.session_id, min_position=sent.position)
        assert (session.status, session.persona_id, session.messages) == ("open", "helper", 1)
        (message,) = client.iter_messages(sent.session_id, min_position=sent.position)
        assert (message.role, message.text, message.metadata) == ("user", "What changed in Q3?", {"lang": "en"})
        types = [e.event_type.rsplit(".", 1)[1] for e in client.list_events(sent.session_id)]
        assert types == ["SessionStarted", "MessagePosted"]
        client.cancel_reply(sent.session_id, reason="enough")
        closed = client.close_session(sent.session_id, reason="done")
        kinds = [event.kind for event in client.stream(sent.session_id)]
        assert kinds[0] == "message" and kinds[-1] == "closed" and "cancelled" in kinds
        over_socket = list(client.websocket(sent.session_id))
        assert [e.kind for e in over_socket] == kinds and over_socket[-1].data["reason"] == "done"
        assert client.get_session(sent.session_id, min_position=closed.position).status == "closed"
        with pytest.raises(Conflict) as refused:
            client.post_message("again", session_id=sent.session_id)
        assert refused.value.status == 409 and refused.value.type == "urn:agentlog:problem:state-conflict"


def test_sessions_are_listed_page_by_page_until_the_last(api):
    _, client = client_of(api)
    with client:
        sent = [client.post_message(f"hello {i}") for i in range(6)]
        started = {client.get_session(s.session_id, min_position=s.position).session_id for s in sent}
        first = client.list_sessions(limit=2)
        assert len(first.items) == 2 and first.next_cursor
        listed = [s.session_id for s in client.iter_sessions(page_size=2)]
        assert len(listed) == 6 and set(listed) == started


def test_problems_are_raised_with_their_status_type_field_and_retry_after(api):
    tenant, client = client_of(api, "admin")
    with client:
        with pytest.raises(NotFound) as missing:
            client.get_session(uuid.uuid4())
        assert (missing.value.status, missing.value.title) == (404, "Not found")
        assert missing.value.type == "urn:agentlog:problem:not-found" and "not found" in missing.value.detail
        with pytest.raises(ValidationFailed) as invalid:
            client.post_message("")
        assert (invalid.value.status, invalid.value.field) == (422, "message")
        assert invalid.value.errors[0]["field"] == "message"
        client.set_budget_limit(tenant, 0, persona_id="frugal")
        with pytest.raises(BudgetExhausted) as spent:
            client.post_message("hi", persona_id="frugal")
        assert spent.value.status == 429 and spent.value.retry_after and spent.value.retry_after >= 1
        assert isinstance(spent.value, ClientProblem)
        with pytest.raises(Forbidden):
            client.put_model_profile("r", "m", model="x", base_url="https://llm.example", api_path="/v1", temperature=0)
    with Client(api.url, api_key="alk_not-a-key") as stranger, pytest.raises(Unauthorized):
        stranger.list_sessions()
    with Client(api.url) as nobody, pytest.raises(Unauthorized) as anonymous:
        nobody.budget_usage()
    assert anonymous.value.status == 401


def test_a_websocket_to_another_tenants_session_is_refused_as_not_found(api):
    _, owner = client_of(api)
    _, other = client_of(api)
    with owner, other:
        sent = owner.post_message("mine")
        owner.get_session(sent.session_id, min_position=sent.position)
        with pytest.raises(NotFound):
            list(other.websocket(sent.session_id))
        with pytest.raises(NotFound):
            list(other.stream(sent.session_id))


def test_tasks_tools_budgets_and_model_profiles_round_trip(api):
    tenant, client = client_of(api, "admin", "platform-admin")
    with client:
        task = client.create_task("Summarise", "Three bullets.")
        client.start_task(task.task_id, "worker-7")
        done = client.complete_task(task.task_id, "- up 4%")
        read = client.get_task(task.task_id, min_position=done.position)
        assert (read.status, read.worker, read.result) == ("completed", "worker-7", "- up 4%")
        with pytest.raises(Conflict):
            client.fail_task(task.task_id, "too late")
        invoked = client.invoke_tool("calculator", {"expression": "1+1"}, timeout_ms=5000)
        execution = client.get_tool_execution(invoked.request_id, min_position=invoked.position)
        assert (execution.tool_name, execution.arguments, execution.status) == (
            "calculator",
            {"expression": "1+1"},
            "requested",
        )
        limit = client.set_budget_limit(tenant, 5000, persona_id="helper")
        assert (limit.tenant_id, limit.daily_tokens) == (tenant, 5000)
        assert client.budget_usage(day="2026-01-01").items == []
        role = f"r{uuid.uuid4().hex[:8]}"
        put = client.put_model_profile(role, "cloud", model="m", base_url="https://llm.example", api_path="/v1/chat",
                                       temperature=0.2, extras={"max_tokens": "64"})  # fmt: skip
        profile = client.get_model_profile(role, "cloud", min_position=put.position)
        assert (profile.model, profile.temperature, profile.extras) == ("m", 0.2, {"max_tokens": "64"})
        removed = client.delete_model_profile(role, "cloud")
        with pytest.raises(NotFound):
            client.get_model_profile(role, "cloud", min_position=removed.position)
        assert client.health().status in ("ok", "degraded") and "agentlog" in client.metrics()


async def test_the_async_client_does_the_same_over_asyncio(api):
    _, headers = api.tenant()
    async with AsyncClient(api.url, api_key=headers["X-API-Key"]) as client:
        sent = await client.post_message("hello async")
        session = await client.get_session(sent.session_id, min_position=sent.position)
        assert session.messages == 1
        assert [m.text async for m in client.iter_messages(sent.session_id)] == ["hello async"]
        assert [s.session_id async for s in client.iter_sessions()] == [sent.session_id]
        await client.close_session(sent.session_id)
        kinds = [event.kind async for event in client.stream(sent.session_id)]
        assert kinds == ["message", "closed"]
        assert [event.kind async for event in client.websocket(sent.session_id)] == kinds
        with pytest.raises(NotFound):
            await client.get_task(uuid.uuid4())
