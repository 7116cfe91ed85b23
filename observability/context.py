"""What the work in hand is about (request id, tenant, trace id), kept in contextvars for every log record.

The API middleware binds the request id and trace id when a request starts, authentication binds the
tenant; a worker binds the trace id of the event it handles. Each asyncio task has its own copy, so
concurrent requests never see each other's values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

REQUEST_ID: ContextVar[str | None] = ContextVar("agentlog_request_id", default=None)
TENANT: ContextVar[str | None] = ContextVar("agentlog_tenant", default=None)
TRACE_ID: ContextVar[str | None] = ContextVar("agentlog_trace_id", default=None)
_VARS = {"request_id": REQUEST_ID, "tenant": TENANT, "trace_id": TRACE_ID}

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex; version ff is forbidden
_TRACEPARENT = re.compile(r"(?!ff)[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")  # what is safe to echo in a header and a log line


def traceparent_from(header: str | None) -> str | None:
    """A W3C `traceparent` header as version 00, the version this side speaks (a later version's first four fields,
    as W3C Trace Context says a receiver reads one); None when it is absent or not valid W3C syntax."""
    value = (header or "").strip()
    match = _TRACEPARENT.fullmatch(value)
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    if value.startswith("00-") and match.group(4):
        return None  # version 00 has exactly four parts; later versions may add more
    return f"00-{match.group(1)}-{match.group(2)}-{match.group(3)}"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace-id of a W3C `traceparent` header; None when it is absent or not valid W3C syntax."""
    valid = traceparent_from(traceparent)
    return valid.split("-")[1] if valid else None


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is 1-128 plain characters, else a new random id (32 hex)."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind(**values: str | None) -> list[Token[str | None]]:
    """Set some of request_id, tenant, trace_id (None clears one); returns the tokens `unbind` takes."""
    unknown = set(values) - set(_VARS)
    if unknown:
        raise TypeError(f"unknown log context field(s) {sorted(unknown)}; choose from {sorted(_VARS)}")
    return [_VARS[name].set(value) for name, value in values.items()]


def unbind(tokens: list[Token[str | None]]) -> None:
    """Restore what `bind` replaced."""
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """`bind` for the duration of a block."""
    tokens = bind(**values)
    try:
        yield
    finally:
        unbind(tokens)


def current() -> dict[str, str]:
    """The fields bound now (only those that are set)."""
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}
