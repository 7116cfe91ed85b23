"""The deterministic responder: its rules, its chunks and its documented token rule."""

from __future__ import annotations

import json
import math

import pytest

from workers.conversation.deterministic import ABOUT, DeterministicResponder, answer, chunks, tokens, turn_tokens
from workers.conversation.responder import Text, ToolCall, Turn, Usage
from workers.conversation.tools import offered_tools


def calls(message: str) -> list[tuple[str, dict]]:
    return [(call.name, dict(call.arguments)) for call in answer([Turn("user", message)]).calls]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Calculate 2 + 2", [("calculator", {"expression": "2 + 2"})]),
        ("what is (3+4)*5?", [("calculator", {"expression": "(3+4)*5"})]),
        (
            "Calculate 2 + 2 and 3 * 5",
            [("calculator", {"expression": "2 + 2"}), ("calculator", {"expression": "3 * 5"})],
        ),
        ("echo hello  world", [("echo", {"text": "hello  world"})]),
        ("echo 2 + 2", [("echo", {"text": "2 + 2"})]),
        ("What time is it?", [("timestamp", {})]),
        ("What is the date today?", [("timestamp", {})]),
        ("Summarise https://example.com/a?b=1 please", [("http_fetch", {"url": "https://example.com/a?b=1"})]),
        ("hello there", []),
        ("I have 3 cats", []),
    ],
)
def test_each_kind_of_message_goes_to_its_tool(message, expected):
    assert calls(message) == expected


def test_anything_else_gets_an_honest_reply_saying_what_it_can_do():
    said = answer([Turn("user", "Write me a poem")])
    assert said.text == ABOUT and not said.calls
    assert "not a language model" in ABOUT and "Calculate 2 + 2" in ABOUT


def test_after_the_tool_outcomes_it_answers_with_them_one_line_each():
    asked = Turn(
        "assistant",
        tool_calls=(
            ToolCall("call-0", "calculator", {"expression": "2 + 2"}),
            ToolCall("call-1", "timestamp", {}),
            ToolCall("call-2", "echo", {"text": "x"}),
        ),
    )
    history = [
        Turn("user", "..."),
        asked,
        Turn("tool", json.dumps({"expression": "2 + 2", "result": "4"}), call_id="call-0"),
        Turn("tool", json.dumps({"utc": "2026-01-01T00:00:00+00:00"}), call_id="call-1"),
        Turn("tool", "denied: not on this tenant's list", call_id="call-2"),
    ]
    assert answer(history).text == (
        "2 + 2 = 4\nIt is 2026-01-01T00:00:00+00:00.\nThe echo tool denied: not on this tenant's list"
    )


def test_tokens_are_a_quarter_of_the_characters_rounded_up_per_turn():
    assert [tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
    call = ToolCall("c", "calculator", {"expression": "2 + 2"})
    expected = 3 + math.ceil(len('calculator{"expression": "2 + 2"}') / 4)
    assert turn_tokens(Turn("assistant", "abcdefghij", tool_calls=(call,))) == expected


async def test_it_streams_whole_word_chunks_then_usage_and_its_estimate_is_exactly_that_usage():
    responder = DeterministicResponder()
    history = [Turn("system", "be brief"), Turn("user", "tell me something")]
    pieces = [piece async for piece in responder.respond(history, offered_tools())]

    texts = [p.text for p in pieces if isinstance(p, Text)]
    assert "".join(texts) == ABOUT and len(texts) > 5
    assert all(len(t) <= 24 or " " not in t.strip() for t in texts)
    usage = pieces[-1]
    assert isinstance(usage, Usage)
    assert usage.prompt_tokens == tokens("be brief") + tokens("tell me something")
    assert usage.completion_tokens == tokens(ABOUT)
    assert responder.estimate(history) == usage.total


async def test_it_calls_only_the_tools_it_is_offered():
    pieces = [p async for p in DeterministicResponder().respond([Turn("user", "Calculate 1+1")], [])]
    texts = [p for p in pieces[:-1] if isinstance(p, Text)]
    assert texts == pieces[:-1] and "".join(p.text for p in texts) == ABOUT


def test_chunks_join_to_the_text():
    text = "one two  three\nfour " + "x" * 40
    assert "".join(chunks(text)) == text
