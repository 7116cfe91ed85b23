"""What a request body must be before FastAPI reads it: JSON, uncompressed, UTF-8, nested at most MAX_DEPTH deep.

Left to itself FastAPI answers a body of another media type with a 422 about a "valid
dictionary", and bytes that are not UTF-8, a compressed body or JSON nested past Python's
recursion limit with a 400 that names nothing. `JsonRoute`, the route class of every router,
checks a body first and says which header, or the body, is at fault and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.errors import ApiError

MAX_DEPTH = 64  # arrays and objects inside one another; far more than any request here needs
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
FIX = "send the body as JSON with Content-Type: application/json"


class JsonRoute(APIRoute):
    """An APIRoute whose body, when it takes one, passes `check_body` before FastAPI parses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            await check_body(request)
            return await handler(request)

        return checked


async def check_body(request: Request) -> None:
    """Raise ApiError unless an empty body, or a JSON one: 415 naming Content-Type or Content-Encoding,
    400 naming the body when it is not UTF-8 or nests deeper than MAX_DEPTH."""
    body = await request.body()
    if not body:
        return
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(
            415,
            "unsupported-media-type",
            f"the body is {encoding}-encoded; send it uncompressed, without a Content-Encoding header",
            field="Content-Encoding",
        )
    _check_media_type(request.headers.get("content-type"))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        detail = f"the body is not UTF-8 text (byte {e.start} cannot start or continue a character); JSON is UTF-8"
        raise ApiError(400, "not-utf-8", detail, field="body") from None
    if _deeper_than(text, MAX_DEPTH):
        raise ApiError(400, "too-deep", f"the JSON nests arrays and objects more than {MAX_DEPTH} deep", field="body")


def _check_media_type(content_type: str | None) -> None:
    """application/json or application/<anything>+json, in UTF-8 if a charset is named."""
    if content_type is None:
        raise ApiError(415, "unsupported-media-type", f"the request has no Content-Type; {FIX}", field="Content-Type")
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    json_type = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    charset = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")), "utf-8")
    if not json_type or charset not in ("utf-8", "utf8"):
        raise ApiError(
            415,
            "unsupported-media-type",
            f"Content-Type {content_type!r} is not JSON in UTF-8; {FIX}",
            field="Content-Type",
        )


def _deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep (brackets inside strings do not count).

    Without recursion, so any depth is safe: each pass removes the innermost empty pairs, which
    lowers the deepest nesting by one; a pair still left after `limit` passes was deeper.
    Unbalanced brackets are left for the JSON parser to report.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn("", brackets)
        if not removed:
            return False
    return "[]" in brackets or "{}" in brackets
