"""What the sync and async clients share: credentials, answering a Call, refusals of a WebSocket."""

from __future__ import annotations

from typing import TypeVar

import httpx

from agentlog.client.errors import BY_STATUS, ApiProblem, ClientProblem, problem_of
from agentlog.client.routes import Call
from agentlog.client.streams import socket_refusal

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
USER_AGENT = "agentlog-client/1"


def credentials(api_key: str | None, token: str | None) -> dict[str, str]:
    """Request headers for an API key (`X-API-Key`) or a bearer token (a JWT, or an API key too)."""
    if api_key and token:
        raise ValueError("pass api_key or token, not both")
    if api_key:
        return {"X-API-Key": api_key}
    return {"Authorization": f"Bearer {token}"} if token else {}


def base_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept": "application/json", **credentials(api_key, token)}


def answer(call: Call[T], response: httpx.Response) -> T:
    """The Call's parsed answer, or its problem raised (an ApiProblem subclass)."""
    if response.is_success or response.status_code in call.also:
        return call.read(response)
    raise problem_of(response)


def request_args(call: Call[T]) -> dict[str, object]:
    """httpx keyword arguments for the Call (`json` only when it has a body)."""
    args: dict[str, object] = {"params": dict(call.params), "headers": dict(call.headers)}
    if call.json is not None:
        args["json"] = call.json
    return args


def refused(code: int | None, reason: str | None) -> ApiProblem | None:
    """The problem a WebSocket close code stands for (4401, 4404, 4422...), None for a normal close."""
    found = socket_refusal(code or 1000, reason or "")
    if found is None:
        return None
    status, detail = found
    kind = BY_STATUS.get(status, ClientProblem)
    return kind(status, "WebSocket refused", detail, type="about:blank")
