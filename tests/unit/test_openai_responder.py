"""The OpenAI-compatible responder's pure parts: streamed tool-call deltas assembled, the estimate rule,
the request and messages it sends, and how a model profile configures it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

from domain.model_profile.aggregate import ModelProfile
from workers.conversation.openai_compat import (
    KEY_ENV,
    MESSAGE_OVERHEAD,
    Endpoint,
    OpenAIResponder,
    endpoint_of,
    messages,
)
from workers.conversation.openai_stream import Assembler
from workers.conversation.responder import ResponderError, Text, ToolCall, ToolSpec, Turn, Usage
from workers.conversation.tools import offered_tools

pytestmark = pytest.mark.unit


def chunk(delta: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    return ChatCompletionChunk.model_validate(
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, "usage": usage}
    )


def fragment(index: int, *, id: str | None = None, name: str | None = None, args: str | None = None) -> dict:
    function = {k: v for k, v in (("name", name), ("arguments", args)) if v is not None}
    return {"tool_calls": [{"index": index, "id": id, "type": "function" if id else None, "function": function}]}


def assemble(chunks: list[ChatCompletionChunk]) -> list[object]:
    assembler = Assembler()
    pieces: list[object] = []
    for c in chunks:
        pieces.extend(assembler.feed(c))
    return pieces + list(assembler.finish())


def test_text_deltas_come_out_as_they_arrive_and_usage_last():
    pieces = assemble(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk(None, {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}),
        ]
    )
    assert pieces == [Text("Hel"), Text("lo"), Usage(12, 2)]


def test_interleaved_tool_call_fragments_are_assembled_per_index_in_index_order():
    pieces = assemble(
        [
            chunk(fragment(1, id="call_b", name="echo", args="")),
            chunk(fragment(0, id="call_a", name="calculator", args='{"expr')),
            chunk(fragment(1, args='{"text": "hi"}')),
            chunk(fragment(0, args='ession": "2 + 2"}')),
            chunk(None, {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}),
        ]
    )
    assert pieces == [
        ToolCall("call_a", "calculator", {"expression": "2 + 2"}),
        ToolCall("call_b", "echo", {"text": "hi"}),
        Usage(30, 9),
    ]


def test_a_call_without_arguments_gets_an_empty_object_and_one_without_id_a_derived_one():
    pieces = assemble([chunk(fragment(0, name="timestamp"))])
    assert pieces == [ToolCall("call-0", "timestamp", {})]


@pytest.mark.parametrize(
    ("args", "reason"),
    [('{"expression": "2 +', "not JSON"), ("[1, 2]", "not a JSON object")],
)
def test_unusable_tool_arguments_are_a_responder_error_naming_the_tool(args, reason):
    with pytest.raises(ResponderError, match=rf"calculator.*{reason}"):
        assemble([chunk(fragment(0, id="c", name="calculator", args=args))])


def test_a_tool_call_without_a_name_is_a_responder_error():
    with pytest.raises(ResponderError, match="no name"):
        assemble([chunk(fragment(0, id="c", args="{}"))])


def test_a_stream_without_usage_reports_none():
    assert assemble([chunk({"content": "hi"})]) == [Text("hi")]


def test_estimate_is_characters_over_four_plus_overheads_plus_the_completion_cap():
    history = [
        Turn("user", "Calculate 2 + 2"),
        Turn("assistant", "", tool_calls=(ToolCall("c0", "calculator", {"expression": "2 + 2"}),)),
        Turn("tool", '{"result": "4"}', call_id="c0"),
    ]
    responder = OpenAIResponder(Endpoint(base_url="http://x/v1", model="m", temperature=0, max_tokens=100))
    chars = len("Calculate 2 + 2") + len("calculator") + len(json.dumps({"expression": "2 + 2"})) + 15
    assert responder.estimate(history) == math.ceil(chars / 4) + 3 * MESSAGE_OVERHEAD + 100


def test_estimate_counts_the_offered_tools():
    endpoint = Endpoint(base_url="http://x/v1", model="m", temperature=0, max_tokens=10)
    bare, offered = OpenAIResponder(endpoint), OpenAIResponder(endpoint, offered_tools())
    history = [Turn("user", "hi")]
    tools_json = json.dumps(
        [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
            }
            for t in offered_tools()
        ]
    )
    assert offered.estimate(history) - bare.estimate(history) >= len(tools_json) // 4


def test_messages_carry_tool_calls_and_outcomes_paired_by_id():
    history = [
        Turn("system", "be brief"),
        Turn("user", "echo hi"),
        Turn("assistant", "", tool_calls=(ToolCall("call_1", "echo", {"text": "hi"}),)),
        Turn("tool", "hi", call_id="call_1"),
    ]
    assert messages(history) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "echo hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "echo", "arguments": '{"text": "hi"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "hi"},
    ]


def test_the_request_streams_with_usage_and_offers_the_tools():
    responder = OpenAIResponder(Endpoint(base_url="http://x/v1", model="m", temperature=0.5, max_tokens=64))
    spec = ToolSpec("echo", "Says it back.", {"type": "object", "properties": {}})
    body = responder.request([Turn("user", "hi")], [spec])
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.5
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "echo", "description": "Says it back.", "parameters": spec.parameters},
        }
    ]
    assert "tools" not in responder.request([Turn("user", "hi")], [])


def profile(api_path: str = "/v1/chat/completions", **extras: str) -> ModelProfile:
    return ModelProfile(
        role="r",
        deployment_mode="local",
        model="gpt-x",
        base_url="https://llm.example.com/",
        api_path=api_path,
        temperature=0.2,
        extras=extras,
    )


@pytest.mark.parametrize("api_path", ["/v1/chat/completions", "/v1", "/v1/"])
def test_the_profile_names_the_endpoint_or_its_folder(api_path):
    assert endpoint_of(profile(api_path), {}).base_url == "https://llm.example.com/v1"


def test_the_key_comes_from_the_variable_the_profile_names_never_from_the_profile():
    env = {KEY_ENV: "default-key", f"{KEY_ENV}_GROQ": "groq-key"}
    assert endpoint_of(profile(), env).api_key == "default-key"
    assert endpoint_of(profile(api_key_env=f"{KEY_ENV}_GROQ"), env).api_key == "groq-key"
    assert endpoint_of(profile(), {}).api_key is None


def test_a_profile_cannot_name_another_secret_of_the_worker():
    with pytest.raises(ResponderError, match="api_key_env"):
        endpoint_of(profile(api_key_env="AGENTLOG_DATABASE_URL"), {"AGENTLOG_DATABASE_URL": "secret"})


@pytest.mark.parametrize(
    ("extras", "field"),
    [({"max_tokens": "0"}, "max_tokens"), ({"timeout": "soon"}, "timeout"), ({"max_tokens_param": "n"}, "param")],
)
def test_bad_extras_are_a_responder_error_naming_them(extras, field):
    with pytest.raises(ResponderError, match=field):
        endpoint_of(profile(**extras), {})


def test_extras_set_the_cap_its_parameter_and_the_timeout():
    endpoint = endpoint_of(profile(max_tokens="300", max_tokens_param="max_completion_tokens", timeout="5"), {})
    assert (endpoint.max_tokens, endpoint.max_tokens_param, endpoint.timeout) == (300, "max_completion_tokens", 5.0)
    body = OpenAIResponder(endpoint).request([Turn("user", "hi")], [])
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body
