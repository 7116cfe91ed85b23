"""One ASGI middleware for every HTTP request: its id and log context, the body size limit (413), request metrics.

Starlette puts ServerErrorMiddleware outside every middleware added with `add_middleware`: a handler
that raises passes through here as an exception, not as a response. So the 500 is counted and sent
here (with the request id), and the exception goes on up to be logged once by the app's handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BUG_DETAIL, HttpProblem, problem
from observability import bind, request_id_from, trace_id_of, unbind

REQUESTS = Counter("agentlog_http_requests", "HTTP requests by route and status", ["method", "route", "status"])
LATENCY = Histogram(
    "agentlog_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ACCESS = logging.getLogger("agentlog.access")  # INFO only with AGENTLOG_LOG_REQUESTS (observability.logs)
REQUEST_ID = "X-Request-ID"


def route_template(scope: Scope) -> str:
    """The matched route's template with its router's prefix (`/v1/sessions/{session_id}`), never the raw path (a
    label per session id): FastAPI 0.165 keeps the prefix out of APIRoute.path, in the route context it puts in the
    scope. "unmatched" when no route matched (a 404 of an unknown path)."""
    effective: Any = (scope.get("fastapi") or {}).get("effective_route_context")
    return getattr(effective, "path", None) or getattr(scope.get("route"), "path", None) or "unmatched"


class BodyTooLarge(HttpProblem):
    """Raised while reading a body that grows past the limit; FastAPI passes HTTP errors through."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "too-large", f"the body is larger than {limit} bytes (AGENTLOG_API_MAX_BODY)", field="body"
        )


class RequestGuard:
    """Binds the request id (the caller's X-Request-ID or a new one, echoed on every response) and the
    traceparent's trace id for logging, refuses bodies over `max_body` bytes (by Content-Length, or while
    streaming), and counts and times every request, those whose handler raised included (as 500)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = request_id_from(headers.get(b"x-request-id", b"").decode("latin-1"))
        traceparent = headers.get(b"traceparent", b"").decode("latin-1")
        tokens = bind(request_id=request_id, tenant=None, trace_id=trace_id_of(traceparent))
        began, status = time.perf_counter(), 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID, request_id)
            await send(message)

        failed = False
        try:
            await self._guarded(scope, receive, sending)
        except Exception:
            failed = True
            if not status:
                await problem(500, "internal-error", BUG_DETAIL)(scope, receive, sending)
            raise
        except asyncio.CancelledError:
            status = status or 499  # the client went away (nginx's code): not a failure of ours
            raise
        finally:
            self._record(scope, status or 500, began)
            if not failed:  # else the context stays bound for the handler that logs the failure after us
                unbind(tokens)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge(self.max_body)
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same problem as a BodyTooLarge raised while FastAPI reads the body gets from api/errors.py."""
        e = BodyTooLarge(self.max_body)
        await problem(e.status_code, e.kind, e.detail, field=e.field)(scope, receive, send)

    @staticmethod
    def _record(scope: Scope, status: int, began: float) -> None:
        path = route_template(scope)
        took = time.perf_counter() - began
        REQUESTS.labels(scope["method"], path, str(status)).inc()
        LATENCY.labels(scope["method"], path).observe(took)
        if ACCESS.isEnabledFor(logging.INFO):
            ACCESS.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, took * 1000)
