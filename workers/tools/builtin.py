"""agentlog's own tools without side effects: echo, calculator (exact, by parsing) and timestamp."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workers.tools.calculator import CalculatorError, answer
from workers.tools.registry import Call, ToolError


def text_argument(arguments: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """The string argument `name`; ToolError when it is missing (if required) or not a string."""
    value = arguments.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ToolError(f"argument {name!r} must be a string, e.g. {{{name!r}: '...'}}")
    return value


class Echo:
    name = "echo"
    description = "Says the text back, unchanged."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "what to say back"}},
        "required": ["text"],
    }

    async def run(self, arguments: Mapping[str, Any], call: Call) -> dict[str, Any]:
        return {"text": text_argument(arguments, "text")}


class Calculator:
    name = "calculator"
    description = (
        "Computes an arithmetic expression exactly (rational numbers): + - * / // % ** (or ^) and parentheses."
    )
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. (1 + 2) * 3 / 7"}},
        "required": ["expression"],
    }

    def run(self, arguments: Mapping[str, Any], call: Call) -> dict[str, object]:
        """Run on a thread: a large power takes a moment of CPU (within the calculator's limits)."""
        try:
            return answer(text_argument(arguments, "expression") or "")
        except CalculatorError as e:
            raise ToolError(str(e)) from None


class Timestamp:
    name = "timestamp"
    description = "The current date and time, in UTC and optionally in an IANA time zone."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"timezone": {"type": "string", "description": "an IANA zone, e.g. Europe/Paris"}},
    }

    async def run(self, arguments: Mapping[str, Any], call: Call) -> dict[str, Any]:
        now = datetime.now(UTC)
        result: dict[str, Any] = {"utc": now.isoformat(), "unix": round(now.timestamp(), 6)}
        zone = text_argument(arguments, "timezone", required=False)
        if zone is not None:
            try:
                local = now.astimezone(ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError):
                raise ToolError(f"unknown time zone {zone!r}: use an IANA name such as Europe/Paris") from None
            result |= {"timezone": zone, "local": local.isoformat()}
        return result
