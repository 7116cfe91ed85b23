"""Consumer contract of the OpenAI-compatible responder with a chat-completions endpoint (Pact V4).

We cannot run the provider here, so the responder talks to Pact's mock server, which answers only
the interactions written below and fails the test on any other request; the contract is written
to contracts/pacts/ (merged per interaction) for the provider's side to verify against.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pact import Pact, match

from domain.errors import Unavailable
from workers.conversation.openai_compat import Endpoint, OpenAIResponder
from workers.conversation.responder import ResponderError, Text, ToolCall, ToolSpec, Turn, Usage

pytestmark = pytest.mark.contract

PACTS = Path(__file__).resolve().parents[2] / "contracts" / "pacts"
PATH = "/v1/chat/completions"
KEY = "sk-contract-test"
BEARER = match.regex(f"Bearer {KEY}", regex=r"^Bearer \S+$")  # any key: the provider verifies with its own
CALCULATOR = ToolSpec(
    "calculator",
    "Exact arithmetic.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
)


@pytest.fixture
def pact() -> Iterator[Pact]:
    pact = Pact("agentlog-conversation-worker", "openai-chat-completions").with_specification("V4")
    yield pact
    pact.write_file(PACTS)


def responder(url: str) -> OpenAIResponder:
    endpoint = Endpoint(base_url=f"{url}/v1", model="gpt-test", temperature=0.0, api_key=KEY, max_tokens=64)
    return OpenAIResponder(endpoint)


def sse(*chunks: dict[str, Any]) -> str:
    """A text/event-stream body: one `data:` line per chunk, then `data: [DONE]`."""
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: dict | None = None) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gpt-test",
        "choices": choices,
        "usage": usage,
    }


def expect(pact: Pact, description: str, body: dict[str, Any], status: int, answer: str, content_type: str) -> None:
    (
        pact.upon_receiving(description)
        .with_request("POST", PATH)
        .with_header("Authorization", BEARER)
        .with_body(body, "application/json")
        .will_respond_with(status)
        .with_body(answer, content_type)
    )


def request(messages: list[dict[str, Any]], tools: Sequence[ToolSpec] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-test",
        "messages": messages,
        "temperature": 0.0,
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in tools
        ]
    return body


async def pieces(url: str, history: list[Turn], tools: list[ToolSpec]) -> list[object]:
    return [piece async for piece in responder(url).respond(history, tools)]


async def test_a_streamed_plain_answer_arrives_in_chunks_with_the_usage_last(pact: Pact):
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": ", world."}),
        chunk({}, finish="stop"),
        chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
    )
    expect(
        pact,
        "a streamed chat completion answering in text",
        request([{"role": "user", "content": "Say hello"}]),
        200,
        body,
        "text/event-stream",
    )
    with pact.serve() as server:
        got = await pieces(str(server.url), [Turn("user", "Say hello")], [])
    assert got == [Text("Hello"), Text(", world."), Usage(prompt_tokens=9, completion_tokens=3)]


async def test_a_streamed_tool_call_is_assembled_from_its_fragments(pact: Pact):
    call = {"index": 0, "id": "call_abc", "type": "function", "function": {"name": "calculator", "arguments": ""}}
    body = sse(
        chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"expression"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ': "2 + 2"}'}}]}),
        chunk({}, finish="tool_calls"),
        chunk(None, usage={"prompt_tokens": 60, "completion_tokens": 18, "total_tokens": 78}),
    )
    expect(
        pact,
        "a streamed chat completion calling a tool",
        request([{"role": "user", "content": "Calculate 2 + 2"}], [CALCULATOR]),
        200,
        body,
        "text/event-stream",
    )
    with pact.serve() as server:
        got = await pieces(str(server.url), [Turn("user", "Calculate 2 + 2")], [CALCULATOR])
    assert got == [ToolCall("call_abc", "calculator", {"expression": "2 + 2"}), Usage(60, 18)]


async def test_the_tool_outcome_goes_back_as_a_tool_message_paired_by_the_call_id(pact: Pact):
    asked = {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "calculator", "arguments": '{"expression": "2 + 2"}'},
    }
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Calculate 2 + 2"},
        {"role": "assistant", "content": None, "tool_calls": [asked]},
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"result": "4"}'},
    ]
    body = sse(
        chunk({"role": "assistant", "content": "2 + 2 = 4"}),
        chunk({}, finish="stop"),
        chunk(None, usage={"prompt_tokens": 80, "completion_tokens": 7, "total_tokens": 87}),
    )
    expect(
        pact,
        "a streamed chat completion answering a tool's outcome",
        request(messages, [CALCULATOR]),
        200,
        body,
        "text/event-stream",
    )
    history = [
        Turn("user", "Calculate 2 + 2"),
        Turn("assistant", "", tool_calls=(ToolCall("call_abc", "calculator", {"expression": "2 + 2"}),)),
        Turn("tool", '{"result": "4"}', call_id="call_abc"),
    ]
    with pact.serve() as server:
        got = await pieces(str(server.url), history, [CALCULATOR])
    assert got == [Text("2 + 2 = 4"), Usage(80, 7)]


def error(message: str, kind: str, code: str | None) -> str:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


async def test_a_rejected_request_is_a_responder_error_saying_why(pact: Pact):
    answer = error("The model `gpt-test` does not exist.", "invalid_request_error", "model_not_found")
    expect(
        pact,
        "a chat completion for a model that does not exist",
        request([{"role": "user", "content": "Hi"}]),
        404,
        answer,
        "application/json",
    )
    with pact.serve() as server, pytest.raises(ResponderError, match=r"404.*does not exist"):
        await pieces(str(server.url), [Turn("user", "Hi")], [])


async def test_an_overloaded_endpoint_is_unavailable_with_its_retry_after(pact: Pact):
    (
        pact.upon_receiving("a chat completion while the endpoint is overloaded")
        .with_request("POST", PATH)
        .with_header("Authorization", BEARER)
        .with_body(request([{"role": "user", "content": "Busy?"}]), "application/json")
        .will_respond_with(503)
        .with_header("Retry-After", "7")
        .with_body(error("The server is overloaded.", "server_error", None), "application/json")
    )
    with pact.serve() as server, pytest.raises(Unavailable) as raised:
        await pieces(str(server.url), [Turn("user", "Busy?")], [])
    assert raised.value.retry_after == 7
    assert "503" in raised.value.reason
