"""The OpenAI-compatible responder against a real endpoint, when one is configured.

Set AGENTLOG_OPENAI_BASE_URL (the folder of chat/completions, e.g. https://api.openai.com/v1),
AGENTLOG_OPENAI_API_KEY and AGENTLOG_OPENAI_MODEL; without them these tests skip, naming what is
missing (no endpoint can be reached from our machines; the Pact contract covers the protocol).
"""

from __future__ import annotations

import os

import pytest

from domain.model_profile.aggregate import ModelProfile
from workers.conversation.openai_compat import KEY_ENV, from_profile
from workers.conversation.responder import Text, ToolCall, Turn, Usage
from workers.conversation.tools import offered_tools

pytestmark = pytest.mark.e2e

NEEDED = ("AGENTLOG_OPENAI_BASE_URL", KEY_ENV, "AGENTLOG_OPENAI_MODEL")


@pytest.fixture
def profile() -> ModelProfile:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"no live OpenAI-compatible endpoint configured: {', '.join(missing)} not set")
    return ModelProfile(
        role="live-test",
        deployment_mode="live",
        model=os.environ["AGENTLOG_OPENAI_MODEL"],
        base_url=os.environ["AGENTLOG_OPENAI_BASE_URL"],
        api_path="/chat/completions",
        temperature=0.0,
        extras={"max_tokens": "200"},
    )


async def test_a_live_model_streams_an_answer_and_reports_its_usage(profile: ModelProfile):
    history = [Turn("user", "Reply with the single word: pong")]
    pieces = [piece async for piece in from_profile(profile).respond(history, [])]
    text = "".join(piece.text for piece in pieces if isinstance(piece, Text))
    assert "pong" in text.lower()
    assert isinstance(pieces[-1], Usage)
    assert pieces[-1].prompt_tokens > 0
    assert pieces[-1].completion_tokens > 0


async def test_a_live_model_calls_the_calculator_and_answers_with_its_outcome(profile: ModelProfile):
    responder = from_profile(profile, offered_tools())
    history = [
        Turn("system", "Use the calculator tool for every calculation."),
        Turn("user", "Calculate 1234 * 5678."),
    ]
    first = [piece async for piece in responder.respond(history, offered_tools())]
    calls = [piece for piece in first if isinstance(piece, ToolCall)]
    assert [call.name for call in calls] == ["calculator"]
    assert "1234" in str(calls[0].arguments.get("expression"))
    history += [
        Turn("assistant", "", tool_calls=tuple(calls)),
        Turn("tool", '{"result": "7006652"}', call_id=calls[0].call_id),
    ]
    second = [piece async for piece in responder.respond(history, offered_tools())]
    text = "".join(piece.text for piece in second if isinstance(piece, Text))
    assert "7006652" in text.replace(",", "").replace(" ", "")
