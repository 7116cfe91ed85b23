"""The port between the conversation worker and a model: what it is asked, what it streams back.

A responder is given the conversation so far and the tools it may call, and streams its answer as
pieces: text chunks (shown to the user as they come), tool calls (the worker runs them and asks
again with their outcomes), and finally the tokens the call used. Two responders exist: the
deterministic one (embedded, needs nothing outside the machine) and the OpenAI-compatible one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool: `call_id` pairs the call with its outcome in the next request."""

    call_id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    """One entry of the conversation as the model sees it.

    role "user" / "assistant" / "system" carry `text`; an assistant turn that called tools carries
    `tool_calls`; role "tool" carries a tool's outcome as `text`, paired by `call_id`.
    """

    role: Literal["system", "user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    call_id: str | None = None


@dataclass(frozen=True)
class Text:
    """A chunk of the answer, in order."""

    text: str


@dataclass(frozen=True)
class Usage:
    """The tokens the call used, as the model counts them (the last piece of every answer)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Piece = Text | ToolCall | Usage


class Responder(Protocol):
    """A model behind the conversation worker."""

    def estimate(self, history: Sequence[Turn]) -> int:
        """Tokens to reserve against the budget before calling: an upper estimate of what the call uses."""
        ...

    def respond(self, history: Sequence[Turn], tools: Sequence[ToolSpec]) -> AsyncIterator[Piece]:
        """Stream the answer to `history`: Text chunks and/or ToolCalls, then one Usage.

        Raises Unavailable (domain.errors) when the model cannot be reached (the worker retries
        later; nothing was said yet), and ResponderError for an answer it cannot use.
        """
        ...


class ResponderError(Exception):
    """The model answered something the worker cannot use (it says so in the conversation)."""
