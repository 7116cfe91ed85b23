"""The typed agentlog API client: `Client` (blocking) and `AsyncClient` (asyncio), both on httpx.

    from agentlog.client import Client

    with Client("http://127.0.0.1:8000", api_key="alk_...") as api:
        sent = api.post_message("What changed in the Q3 report?", persona_id="helper")
        session = api.get_session(sent.session_id, min_position=sent.position)

Errors are raised as `ApiProblem` subclasses (see `agentlog.client.errors`); live updates are
iterators (`stream()` over SSE, `websocket()`); `iter_sessions` / `iter_messages` follow cursors.
"""

from agentlog.client import models
from agentlog.client._async import AsyncClient
from agentlog.client._sync import Client
from agentlog.client.errors import (
    ApiProblem,
    BadRequest,
    BudgetExhausted,
    ClientProblem,
    Conflict,
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    ServerProblem,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    ViewBehind,
)
from agentlog.client.models import StreamEvent

__all__ = [
    "ApiProblem",
    "AsyncClient",
    "BadRequest",
    "BudgetExhausted",
    "Client",
    "ClientProblem",
    "Conflict",
    "Forbidden",
    "InternalError",
    "NotFound",
    "PayloadTooLarge",
    "ServerProblem",
    "StreamEvent",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "ValidationFailed",
    "ViewBehind",
    "models",
]
