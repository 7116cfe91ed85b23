"""One ASGI middleware for every HTTP request: the body size limit (413) and request metrics per route."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import HttpProblem, problem

REQUESTS = Counter("agentlog_http_requests", "HTTP requests by route and status", ["method", "route", "status"])
LATENCY = Histogram(
    "agentlog_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class BodyTooLarge(HttpProblem):
    """Raised while reading a body that grows past the limit; FastAPI passes HTTP errors through."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "too-large", f"the body is larger than {limit} bytes (AGENTLOG_API_MAX_BODY)", field="body"
        )


class RequestGuard:
    """Refuses bodies over `max_body` bytes (by Content-Length, or while streaming) and times requests."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, receive, send)
            self._record(scope, 413, began)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge(self.max_body)
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except BodyTooLarge:
            status = 413
            await self._too_large(scope, receive, send)
        self._record(scope, status, began)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same problem as a BodyTooLarge raised while FastAPI reads the body gets from api/errors.py."""
        e = BodyTooLarge(self.max_body)
        await problem(e.status_code, e.kind, e.detail, field=e.field)(scope, receive, send)

    @staticmethod
    def _record(scope: Scope, status: int, began: float) -> None:
        route: Any = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        REQUESTS.labels(scope["method"], path, str(status)).inc()
        LATENCY.labels(scope["method"], path).observe(time.perf_counter() - began)
