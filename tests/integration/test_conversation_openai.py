"""The conversation worker answering through an OpenAI-compatible endpoint named by a model profile.

The endpoint is Pact's mock server (the house way to stand in for a service we cannot run; the
contract itself is tests/contract/test_openai_pact.py): it answers only the request written
below, so these tests also show what the worker sends for a real session.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pact import Pact, match

from tests.conftest import registered_codec
from tests.support.api import running_api
from tests.support.conversation import events, post, settings_for, wait_for_reply, worker_running
from workers.conversation.openai_compat import KEY_ENV, Endpoint, OpenAIResponder
from workers.conversation.responder import Turn
from workers.conversation.tools import offered_tools

MODEL, MAX_TOKENS = "gpt-test", 64
MODE = f"pact-{uuid.uuid4().hex[:8]}"  # this module's own profiles


@pytest.fixture(scope="module")
def world(servers, registry):
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        settings = settings_for(api, codec, servers, conversation_deployment_mode=MODE)
        with worker_running(api, codec, settings) as store:
            yield api, store


@pytest.fixture
def client(world):
    with world[0].client() as client:
        yield client


@pytest.fixture
def persona() -> str:
    """A persona of this test's own: its profile (platform-wide, the persona's id as role) serves its sessions."""
    return f"persona-{uuid.uuid4().hex[:8]}"


def set_profile(world, client, role: str, url: str) -> None:
    _, admin = world[0].tenant("platform-admin")
    extras = {"max_tokens": str(MAX_TOKENS)}
    body = {"model": MODEL, "base_url": url, "api_path": "/v1/chat/completions", "temperature": 0, "extras": extras}
    response = client.put(f"/v1/model-profiles/{role}/{MODE}", json=body, headers=admin)
    assert response.status_code == 200, response.text


def expected_request(text: str) -> dict[str, Any]:
    endpoint = Endpoint(base_url="", model=MODEL, temperature=0.0, max_tokens=MAX_TOKENS)
    return OpenAIResponder(endpoint).request([Turn("user", text)], offered_tools())


def sse(*deltas: dict[str, Any], usage: dict[str, int]) -> str:
    def chunk(choices: list, usage: dict | None = None) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": choices}
        return f"data: {json.dumps({**body, 'usage': usage})}\n\n"

    lines = [chunk([{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
    return "".join([*lines, chunk([], usage), "data: [DONE]\n\n"])


def session_with_persona(world, client, persona: str, text: str) -> tuple[dict, str]:
    _, headers = world[0].tenant()
    response = post(client, headers, text, persona_id=persona)
    assert response.status_code in (200, 201, 202), response.text
    return headers, response.json()["session_id"]


def test_a_profile_pointing_at_an_openai_compatible_endpoint_gets_its_streamed_answer(
    world, client, persona, monkeypatch
):
    monkeypatch.setenv(KEY_ENV, "sk-integration")
    pact = Pact("agentlog-conversation-worker", "openai-chat-completions").with_specification("V4")
    (
        pact.upon_receiving("a session's first message")
        .with_request("POST", "/v1/chat/completions")
        .with_header("Authorization", match.regex("Bearer sk-integration", regex=r"^Bearer sk-integration$"))
        .with_body(expected_request("Say hello"), "application/json")
        .will_respond_with(200)
        .with_body(
            sse({"content": "Hello"}, {"content": ", world."}, usage={"prompt_tokens": 9, "completion_tokens": 3}),
            "text/event-stream",
        )
    )
    with pact.serve() as server:
        set_profile(world, client, persona, str(server.url))
        headers, session = session_with_persona(world, client, persona, "Say hello")
        [reply] = wait_for_reply(client, headers, session)

    assert reply["text"] == "Hello, world."
    assert reply["metadata"]["status"] == "answered"
    chunks = [e["data"]["text"] for e in events(client, headers, session) if e["event_type"].endswith("ReplyChunk")]
    assert chunks == ["Hello", ", world."]


def test_an_endpoint_refusing_the_key_is_answered_with_an_error_reply(world, client, persona, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    pact = Pact("agentlog-conversation-worker", "openai-chat-completions").with_specification("V4")
    error = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": None}}
    (
        pact.upon_receiving("a message with a wrong key")
        .with_request("POST", "/v1/chat/completions")
        .with_body(expected_request("Hi"), "application/json")
        .will_respond_with(401)
        .with_body(error, "application/json")
    )
    with pact.serve() as server:
        set_profile(world, client, persona, str(server.url))
        headers, session = session_with_persona(world, client, persona, "Hi")
        [reply] = wait_for_reply(client, headers, session)

    assert reply["metadata"]["status"] == "error"
    assert "401" in reply["text"]
    assert "check the key" in reply["text"]
