"""Checks shared by the aggregates' decisions; each raises InvalidCommand naming the field."""

from __future__ import annotations

import json

from domain.errors import InvalidCommand

HTTP_SCHEMES = ("http://", "https://")


def require_text(field: str, value: str) -> str:
    """Return value unchanged when it has a non-blank character; else InvalidCommand(field)."""
    if not value.strip():
        raise InvalidCommand(field, "must not be blank")
    return value


def require_http_url(field: str, value: str) -> str:
    """Return value when it is an http:// or https:// URL (the scheme in any case) with something after the scheme."""
    scheme = next((prefix for prefix in HTTP_SCHEMES if value.lower().startswith(prefix)), None)
    if scheme is None or not value[len(scheme) :].strip():
        raise InvalidCommand(field, "must be an http:// or https:// URL")
    return value


def require_json(field: str, value: str) -> str:
    """Return value when it is valid JSON text (any JSON value); else InvalidCommand(field)."""
    try:
        json.loads(value)
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise InvalidCommand(field, f"must be valid JSON: {e}") from e
    return value


def require_at_least(field: str, value: int, minimum: int) -> int:
    """Return value when it is at least minimum; else InvalidCommand(field)."""
    if value < minimum:
        raise InvalidCommand(field, f"must be at least {minimum}, got {value}")
    return value
