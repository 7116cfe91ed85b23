"""The conversation worker on the real servers: message in, streamed reply out, tools, budgets, cancel."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from contracts.routing import OUTBOUND
from domain.events import CommandContext
from domain.session.events import MessagePosted, Role
from domain.tool.commands import AllowTool, CompleteTool
from domain.tool.service import allow_tool, complete_tool
from tests.conftest import registered_codec
from tests.support.api import eventually, running_api
from tests.support.conversation import events, post, settings_for, wait_for_reply, worker_running
from workers.conversation.deterministic import ABOUT
from workers.runtime import id_for

CHUNK_DELAY = 0.1  # seconds between chunks: long enough to cancel a reply in the middle


@pytest.fixture(scope="module")
def world(servers, registry):
    """An API of this module's own (schema, topics, views) with the conversation worker beside it."""
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        settings = settings_for(
            api,
            codec,
            servers,
            conversation_chunk_delay=CHUNK_DELAY,
            conversation_tool_timeout_ms=5000,
            conversation_tool_grace=1,
        )
        with worker_running(api, codec, settings) as store:
            yield api, codec, store


@pytest.fixture
def client(world):
    with world[0].client() as client:
        yield client


def user_event(client: httpx.Client, headers: dict[str, str], session: str) -> dict:
    return next(e for e in events(client, headers, session) if e["data"].get("role") == "user")


def test_a_message_gets_its_reply_streamed_in_chunks_then_whole_in_the_store_and_on_the_outbound_topic(
    world, client, wait_for_event
):
    api, codec, _ = world
    _, headers = api.tenant()
    session = post(client, headers, "Hello, who are you?").json()["session_id"]

    [reply] = wait_for_reply(client, headers, session)
    assert reply["text"] == ABOUT
    question = user_event(client, headers, session)
    assert reply["metadata"] == {"in_reply_to": question["data"]["message_id"], "status": "answered"}
    chunks = [e for e in events(client, headers, session) if e["event_type"].endswith("AssistantReplyChunk")]
    assert [c["data"]["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) > 5
    assert "".join(c["data"]["text"] for c in chunks) == ABOUT
    assert {c["data"]["message_id"] for c in chunks} == {reply["message_id"]}

    def is_reply(message) -> bool:
        event = codec.decode(message.value()).event
        return isinstance(event, MessagePosted) and str(event.session_id) == session and event.role is Role.ASSISTANT

    found = codec.decode(wait_for_event(codec.routing.prefix + OUTBOUND, is_reply, timeout=20).value()).event
    assert found.text == ABOUT


def test_calculations_go_to_the_calculator_and_the_reply_says_their_results(world, client):
    api, _, store = world
    tenant, headers = api.tenant()
    session = post(client, headers, "Calculate 2 + 2 and 3 * 5").json()["session_id"]
    cause = uuid.UUID(eventually(lambda: user_event(client, headers, session))["event_id"])
    requests = [id_for(cause, "tool:0:0"), id_for(cause, "tool:0:1")]

    found = eventually(lambda: all(tool_requests(api, store, requests)) and tool_requests(api, store, requests), 20)
    assert [(row.tool_name, json.loads(row.arguments_json)) for row in found] == [
        ("calculator", {"expression": "2 + 2"}),
        ("calculator", {"expression": "3 * 5"}),
    ]
    for request, result in zip(requests, ("4", "15"), strict=True):  # the tool executor's part
        play_executor(api, store, tenant, request, {"result": result})

    [reply] = wait_for_reply(client, headers, session)
    assert reply["text"] == "2 + 2 = 4\n3 * 5 = 15"


def tool_requests(api, store, requests: list[uuid.UUID]) -> list:
    """The ToolRequested event of each request (None while it is not recorded), read from the store."""

    async def read() -> list:
        streams = [await store.read_stream(str(request)) for request in requests]
        return [stream[0].event if stream else None for stream in streams]

    return asyncio.run_coroutine_threadsafe(read(), api.loop).result(10)


def play_executor(api, store, tenant: str, request: uuid.UUID, result: dict) -> None:
    context = CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))

    async def run() -> None:
        await allow_tool(store, context, AllowTool(request_id=request, reason="test", policy="test"))
        await complete_tool(
            store, context, CompleteTool(request_id=request, result_json=json.dumps(result), duration_ms=1)
        )

    asyncio.run_coroutine_threadsafe(run(), api.loop).result(10)


def test_an_exhausted_budget_is_an_explicit_reply_and_the_next_message_a_429(world, client):
    api, _, _ = world
    tenant, headers = api.tenant("admin")
    limit = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 20, "persona_id": "tiny"}, headers=headers)
    assert limit.status_code == 200, limit.text
    session = post(client, headers, "Tell me about yourself", persona_id="tiny").json()["session_id"]

    [reply] = wait_for_reply(client, headers, session)
    assert reply["metadata"]["status"] == "budget_exhausted"
    assert (
        reply["text"].startswith("I cannot answer: the token budget of tiny") and "20 of 20 are left" in reply["text"]
    )
    refused = post(client, headers, "and now?", session_id=session)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["type"].endswith("budget-exhausted")
    usage = eventually(lambda: client.get("/v1/budgets", headers=headers).json()["items"])
    assert usage[0]["persona_id"] == "tiny" and usage[0]["used"] == 0


def test_cancel_stops_a_reply_in_the_middle_and_the_transcript_shows_what_was_said(world, client):
    api, _, store = world
    _, headers = api.tenant()
    session = post(client, headers, "Hello?").json()["session_id"]
    eventually(lambda: any(e["event_type"].endswith("Chunk") for e in events(client, headers, session)), 20, 0.01)

    cancelled = client.post(f"/v1/sessions/{session}/cancel", json={"reason": "enough"}, headers=headers)
    assert cancelled.status_code == 202, cancelled.text

    [reply] = wait_for_reply(client, headers, session)
    assert reply["metadata"]["status"] == "cancelled"
    assert ABOUT.startswith(reply["text"]) and len(reply["text"]) < len(ABOUT)
    messages = eventually(lambda: _messages(client, headers, session, 2))
    assert messages[-1]["text"] == reply["text"] and messages[-1]["metadata"]["status"] == "cancelled"
    with client.stream("GET", f"/v1/sessions/{session}/stream", headers=headers, timeout=10) as stream:
        kinds = []
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
            if kinds.count("message") == 2:
                break
    assert "cancelled" in kinds and kinds.index("cancelled") < len(kinds) - 1

    again = post(client, headers, "echo still here", session_id=session)  # later messages are answered
    assert again.status_code == 202
    second = eventually(lambda: len(_users(client, headers, session)) == 2 and _users(client, headers, session)[1])
    request = id_for(uuid.UUID(second["event_id"]), "tool:0:0")
    [echo] = eventually(lambda: all(tool_requests(api, store, [request])) and tool_requests(api, store, [request]), 20)
    assert echo.tool_name == "echo"
    # no executor runs here: cancelling again stops the worker's wait for the echo's outcome
    assert client.post(f"/v1/sessions/{session}/cancel", headers=headers).status_code == 202


def _users(client, headers, session: str) -> list[dict]:
    return [e for e in events(client, headers, session) if e["data"].get("role") == "user"]


def _messages(client, headers, session: str, count: int):
    items = client.get(f"/v1/sessions/{session}/messages", headers=headers).json().get("items", [])
    return items if len(items) == count else None
