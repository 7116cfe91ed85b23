"""Turning a streamed chat completion (OpenAI's chunk format) into the responder's pieces.

Text deltas become Text pieces as they come. Tool calls arrive in fragments keyed by their
`index`: the first fragment carries the call's id and name, later ones append to its JSON
arguments; they become ToolCall pieces once the stream ends, in index order. The usage arrives
in the last chunk (choices empty) when the request asked for it (`stream_options.include_usage`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletionChunk

from workers.conversation.responder import Piece, ResponderError, Text, ToolCall, Usage


@dataclass
class _Partial:
    """A tool call still arriving: what its fragments said so far."""

    call_id: str = ""
    name: str = ""
    arguments: str = ""


class Assembler:
    """Feed it every chunk of one stream (`feed`), then take the rest (`finish`)."""

    def __init__(self) -> None:
        self.calls: dict[int, _Partial] = {}
        self.usage: Usage | None = None

    def feed(self, chunk: ChatCompletionChunk) -> list[Piece]:
        """The text of this chunk (as one Text, if any); tool-call fragments and usage are kept."""
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
        pieces: list[Piece] = []
        for choice in chunk.choices:
            if choice.index != 0:  # we ask for one choice (n=1); a server sending more: the first
                continue
            if choice.delta.content:
                pieces.append(Text(choice.delta.content))
            for fragment in choice.delta.tool_calls or ():
                call = self.calls.setdefault(fragment.index, _Partial())
                call.call_id = call.call_id or (fragment.id or "")
                if fragment.function is not None:
                    call.name += fragment.function.name or ""
                    call.arguments += fragment.function.arguments or ""
        return pieces

    def finish(self) -> list[Piece]:
        """The tool calls, in index order, then the Usage (none when the server reported none).

        ResponderError for a call without a name or whose arguments are not a JSON object (a
        stream cut short by max_tokens leaves them unfinished)."""
        pieces: list[Piece] = [self._call(index, call) for index, call in sorted(self.calls.items())]
        if self.usage is not None:
            pieces.append(self.usage)
        return pieces

    @staticmethod
    def _call(index: int, call: _Partial) -> ToolCall:
        if not call.name:
            raise ResponderError(f"tool call {index} has no name")
        try:
            arguments: Any = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError as e:
            raise ResponderError(f"the arguments of tool call {call.name!r} are not JSON ({e})") from e
        if not isinstance(arguments, dict):
            raise ResponderError(f"the arguments of tool call {call.name!r} are not a JSON object")
        return ToolCall(call.call_id or f"call-{index}", call.name, arguments)
