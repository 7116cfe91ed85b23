"""The OpenAI-compatible responder: any chat-completions endpoint, streamed, with tool calling.

Where it calls: the profile's `base_url` + `api_path`, which names the chat-completions endpoint
(`/v1/chat/completions`) or the folder holding it (`/v1`). Model and temperature come from the
profile; `extras` may set `max_tokens` (the completion cap, default 1024), `max_tokens_param`
(`max_tokens`, the default every compatible server knows, or `max_completion_tokens`, which
OpenAI's reasoning models require), `timeout` (seconds, default 60) and `api_key_env`.

The key is never in the profile (profiles are events, kept for good): `extras.api_key_env` names
the environment variable of the worker that holds it, default `AGENTLOG_OPENAI_API_KEY`; only
names starting with `AGENTLOG_OPENAI_API_KEY` are accepted, so a profile cannot send another
secret of the worker to its endpoint. Unset, no key is sent (local servers need none).

Errors, sorted here once: no connection, a timeout, 408, 409, 429 (except an exhausted quota) and
5xx are Unavailable (the worker retries later; the client itself does not retry); any other
answer of the API (a 4xx, an error event in the stream, a malformed chunk) is ResponderError.

Estimate (the documented rule): ceil(characters / 4) of everything sent — each message's text, its
tool calls' names and JSON arguments, the offered tools' JSON — plus 4 tokens per message, plus
the completion cap. Tokenizers differ: usage above the estimate is recorded but never charged.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from domain.errors import Unavailable
from domain.model_profile.aggregate import ModelProfile
from workers.conversation.openai_stream import Assembler
from workers.conversation.responder import Piece, ResponderError, ToolSpec, Turn

KEY_ENV = "AGENTLOG_OPENAI_API_KEY"
DEFAULT_MAX_TOKENS = 1024
DEFAULT_TIMEOUT = 60.0
MESSAGE_OVERHEAD = 4  # tokens per message for its role and separators
RETRYABLE_STATUSES = frozenset({408, 409, 429})
_KEY_ENV_NAME = re.compile(rf"^{KEY_ENV}[A-Z0-9_]*$")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call: the base URL the client appends `/chat/completions` to, and the settings."""

    base_url: str
    model: str
    temperature: float
    api_key: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_param: str = "max_tokens"
    timeout: float = DEFAULT_TIMEOUT


def endpoint_of(profile: ModelProfile, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint a profile describes, its key read from `environ`; ResponderError for a bad extra."""
    extras = profile.extras
    key_env = extras.get("api_key_env", KEY_ENV)
    if not _KEY_ENV_NAME.match(key_env):
        raise ResponderError(f"extras.api_key_env must name a variable starting with {KEY_ENV}, not {key_env!r}")
    param = extras.get("max_tokens_param", "max_tokens")
    if param not in ("max_tokens", "max_completion_tokens"):
        raise ResponderError("extras.max_tokens_param must be max_tokens or max_completion_tokens")
    path = profile.api_path.rstrip("/").removesuffix("/chat/completions")
    return Endpoint(
        base_url=profile.base_url.rstrip("/") + path,
        model=profile.model,
        temperature=profile.temperature,
        api_key=environ.get(key_env) or None,
        max_tokens=int(_number(extras, "max_tokens", DEFAULT_MAX_TOKENS, 1, 1_000_000)),
        max_tokens_param=param,
        timeout=_number(extras, "timeout", DEFAULT_TIMEOUT, 0.1, 3600),
    )


def from_profile(profile: ModelProfile | None, offered: Sequence[ToolSpec] = ()) -> OpenAIResponder:
    """The responder of a profile (the worker's environment holds the key); `offered` are the tools
    the worker will offer, counted in the estimate."""
    if profile is None:
        raise ResponderError("the OpenAI-compatible responder needs a model profile")
    return OpenAIResponder(endpoint_of(profile, os.environ), offered)


class OpenAIResponder:
    """The Responder over one OpenAI-compatible endpoint (see the module docstring)."""

    def __init__(self, endpoint: Endpoint, offered: Sequence[ToolSpec] = ()) -> None:
        self.endpoint = endpoint
        self.offered = tuple(offered)

    def estimate(self, history: Sequence[Turn]) -> int:
        """The rule of the module docstring: the prompt's characters / 4, overheads, and the cap."""
        chars = len(json.dumps([_tool(spec) for spec in self.offered])) if self.offered else 0
        for turn in history:
            chars += len(turn.text) + sum(len(c.name) + len(json.dumps(dict(c.arguments))) for c in turn.tool_calls)
        return math.ceil(chars / 4) + MESSAGE_OVERHEAD * len(history) + self.endpoint.max_tokens

    async def respond(self, history: Sequence[Turn], tools: Sequence[ToolSpec]) -> AsyncIterator[Piece]:
        """Text as it streams, then the tool calls, then the Usage the server reported (none when it
        reports none: the worker then charges the estimate)."""
        assembler = Assembler()
        try:
            async with self._client() as client:
                stream = await client.chat.completions.create(**self.request(history, tools))
                async for chunk in stream:
                    for piece in assembler.feed(chunk):
                        yield piece
        except openai.APIError as e:
            raise self._sorted(e) from e
        for piece in assembler.finish():
            yield piece

    def request(self, history: Sequence[Turn], tools: Sequence[ToolSpec]) -> dict[str, Any]:
        """The body of the chat-completions request."""
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": messages(history),
            "temperature": self.endpoint.temperature,
            self.endpoint.max_tokens_param: self.endpoint.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [_tool(spec) for spec in tools]
        return body

    def _client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self.endpoint.api_key or "none",
            base_url=self.endpoint.base_url,
            timeout=self.endpoint.timeout,
            max_retries=0,  # the worker retries an Unavailable with backoff, for as long as it takes
        )

    def _sorted(self, error: openai.APIError) -> Exception:
        """Unavailable (try later) or ResponderError (this answer is unusable), per the module docstring."""
        where = f"model endpoint {self.endpoint.base_url}"
        if isinstance(error, openai.APIConnectionError):  # includes timeouts
            return Unavailable(where, str(error))
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if (status in RETRYABLE_STATUSES or status >= 500) and error.code != "insufficient_quota":
                return Unavailable(where, f"{status}: {error.message}", _retry_after(error.response.headers))
            if status in (401, 403):
                return ResponderError(f"{status} from {where}: check the key ({error.message})")
            return ResponderError(f"{status} from {where}: {error.message}")
        return ResponderError(f"{where}: {error.message}")


def messages(history: Sequence[Turn]) -> list[dict[str, Any]]:
    """The history as chat messages: tool calls on the assistant's, outcomes as role "tool"."""
    out: list[dict[str, Any]] = []
    for turn in history:
        if turn.role == "tool":
            out.append({"role": "tool", "tool_call_id": turn.call_id or "", "content": turn.text})
        elif turn.tool_calls:
            calls = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
                }
                for call in turn.tool_calls
            ]
            out.append({"role": "assistant", "content": turn.text or None, "tool_calls": calls})
        else:
            out.append({"role": turn.role, "content": turn.text})
    return out


def _tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": dict(spec.parameters)},
    }


def _number(extras: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = extras.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise ResponderError(f"extras.{name} must be a number within {low}..{high}, not {raw!r}")
    return value


def _retry_after(headers: Mapping[str, str]) -> int:
    """The server's Retry-After in whole seconds (1..300), 1 when absent or not a number."""
    try:
        return min(max(math.ceil(float(headers.get("retry-after", "1"))), 1), 300)
    except ValueError:
        return 1
