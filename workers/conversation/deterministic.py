"""The deterministic responder: the embedded default model, rules instead of a language model.

Rules, on the last user message (first match wins):
- `echo TEXT` calls the `echo` tool with TEXT;
- otherwise every arithmetic expression ("Calculate 2 + 2", "what is (3+4)*5?") calls `calculator`,
  every http(s) URL calls `http_fetch`, and a question about the date or time calls `timestamp`
  (several calls in one turn when the message asks several things);
- anything else gets an honest reply saying what it can do.
After tool outcomes it answers with them, one line per call ("2 + 2 = 4").

Tokens (the documented rule): a text counts ceil(characters / 4) tokens; a turn counts its text
plus, per tool call, its name and its JSON arguments; the prompt is every turn of the history and
the completion is the answer's text and calls. The answer is a pure function of the history, so
`estimate` is exactly the Usage that `respond` reports.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from workers.conversation.responder import Piece, Text, ToolCall, ToolSpec, Turn, Usage

ABOUT = (
    "I am agentlog's built-in deterministic responder, not a language model. I can calculate "
    '("Calculate 2 + 2"), echo text ("echo hello"), tell the date and time ("What time is it?") '
    'and fetch a web page ("https://example.com"). Set a model profile to talk to a language model.'
)
CHUNK_CHARS = 24  # chunks are whole words, about this long

_ECHO = re.compile(r"^\s*echo\s+(?P<text>.+)$", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"https?://[^\s<>\"')]+")
_NUMBER = r"\d+(?:\.\d+)?"
_EXPRESSION = re.compile(rf"[(\s]*-?{_NUMBER}(?:[\s()]*(?:\*\*|[-+*/^%])[\s(]*-?{_NUMBER}[\s)]*)+")
_WHEN = re.compile(r"\b(time|date|day|today|clock|year|month|now)\b", re.IGNORECASE)


def tokens(text: str) -> int:
    """The documented rule: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def turn_tokens(turn: Turn) -> int:
    """A turn's tokens: its text, plus each tool call's name and JSON arguments."""
    return tokens(turn.text) + sum(_call_tokens(call) for call in turn.tool_calls)


def _call_tokens(call: ToolCall) -> int:
    return tokens(call.name + json.dumps(dict(call.arguments), sort_keys=True))


@dataclass(frozen=True)
class Answer:
    """What the responder says to a history: text, or tool calls."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()

    def completion_tokens(self) -> int:
        return tokens(self.text) + sum(_call_tokens(call) for call in self.calls)


class DeterministicResponder:
    """The Responder of the rules above; `chunk_delay` seconds pass between chunks (0: none), so
    streaming (and cancelling it) can be watched."""

    def __init__(self, chunk_delay: float = 0.0) -> None:
        self.chunk_delay = chunk_delay

    def estimate(self, history: Sequence[Turn]) -> int:
        """Exactly the tokens `respond` will report."""
        return sum(map(turn_tokens, history)) + answer(history).completion_tokens()

    async def respond(self, history: Sequence[Turn], tools: Sequence[ToolSpec]) -> AsyncIterator[Piece]:
        """The answer as chunks of whole words, or its tool calls (only tools offered in `tools`), then Usage."""
        said = answer(history, {tool.name for tool in tools})
        for index, chunk in enumerate(chunks(said.text)):
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield Text(chunk)
        for call in said.calls:
            yield call
        yield Usage(prompt_tokens=sum(map(turn_tokens, history)), completion_tokens=said.completion_tokens())


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """`text` cut after whitespace into pieces of about `size` characters; they join to `text`."""
    pieces: list[str] = []
    for word in re.findall(r"\S+\s*|\s+", text):
        if pieces and len(pieces[-1]) + len(word) <= size:
            pieces[-1] += word
        else:
            pieces.append(word)
    return pieces


def answer(history: Sequence[Turn], offered: set[str] | None = None) -> Answer:
    """The rules: answer the tool outcomes that end the history, else the last user message."""
    if history and history[-1].role == "tool":
        return Answer(text=_outcomes(history))
    last = next((turn.text for turn in reversed(history) if turn.role == "user"), "")
    calls = [call for call in _calls(last) if offered is None or call.name in offered]
    return Answer(calls=tuple(calls)) if calls else Answer(text=ABOUT)


def _calls(message: str) -> list[ToolCall]:
    if echoed := _ECHO.match(message):
        return [ToolCall("call-0", "echo", {"text": echoed["text"].strip()})]
    found: list[tuple[str, dict[str, str]]] = [("http_fetch", {"url": url}) for url in _URL.findall(message)]
    without_urls = _URL.sub(" ", message)
    for match in _EXPRESSION.finditer(without_urls):
        found.append(("calculator", {"expression": _balanced(match.group().strip())}))
    if (_WHEN.search(without_urls) and "?" in message) or re.search(r"\bwhat time\b", message, re.IGNORECASE):
        found.append(("timestamp", {}))
    return [ToolCall(f"call-{i}", name, args) for i, (name, args) in enumerate(found)]


def _balanced(expression: str) -> str:
    """The expression without parentheses left open or closed by the cut (around "what is (1+2)*3?")."""
    while expression.count("(") > expression.count(")") and expression.startswith("("):
        expression = expression[1:].strip()
    while expression.count(")") > expression.count("(") and expression.endswith(")"):
        expression = expression[:-1].strip()
    return expression


def _outcomes(history: Sequence[Turn]) -> str:
    """One line per tool outcome of the last assistant turn that called tools."""
    asked = next((turn for turn in reversed(history) if turn.role == "assistant" and turn.tool_calls), None)
    calls = {call.call_id: call for call in asked.tool_calls} if asked else {}
    lines = []
    for turn in history[len(history) - _trailing_tools(history) :]:
        call = calls.get(turn.call_id or "")
        lines.append(_line(call, turn.text) if call else turn.text)
    return "\n".join(lines) or ABOUT


def _trailing_tools(history: Sequence[Turn]) -> int:
    count = 0
    for turn in reversed(history):
        if turn.role != "tool":
            break
        count += 1
    return count


def _line(call: ToolCall, outcome: str) -> str:
    """How one outcome is said; an outcome the worker marked "failed:" or "denied:" is said as such."""
    if outcome.startswith(("failed:", "denied:", "timed out:", "no outcome:")):
        kind, _, why = outcome.partition(":")
        return f"The {call.name} tool {kind}: {why.strip()}"
    value = _value(outcome)
    match call.name:
        case "calculator":
            return f"{call.arguments.get('expression', '')} = {value}"
        case "echo":
            return value
        case "timestamp":
            return f"It is {value}."
        case "http_fetch":
            return f"{call.arguments.get('url', '')} answered {_fetched(outcome, value)}"
    return f"{call.name}: {value}"


def _value(outcome: str) -> str:
    """A tool's JSON result as words: its `result` (or `value`, `text`, ...) field, else the JSON itself."""
    try:
        result = json.loads(outcome)
    except ValueError:
        return outcome
    if isinstance(result, dict):
        for key in ("result", "value", "text", "utc", "timestamp", "body"):
            if key in result:
                return str(result[key])
        return json.dumps(result, ensure_ascii=False)
    return str(result)


def _fetched(outcome: str, value: str) -> str:
    """An http_fetch result as words: its status, then the start of its text."""
    try:
        result = json.loads(outcome)
    except ValueError:
        result = None
    if isinstance(result, dict) and "status" in result:
        return f"{result['status']}: {str(result.get('text', ''))[:300]}"
    return value[:300]
