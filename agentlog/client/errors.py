"""Problem details (RFC 9457) answered by the API, raised as exceptions: one class per status.

Every class derives from `ApiProblem` (carrying `status`, `type`, `title`, `detail`, `field`,
`errors` and `retry_after`), and from `ClientProblem` (4xx: change the request) or
`ServerProblem` (5xx: retry later, after `retry_after` seconds when the server said so).
"""

from __future__ import annotations

from typing import Any

import httpx


class ApiProblem(Exception):
    """The API refused or failed a request; the attributes are the problem+json body's fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.field, self.errors, self.retry_after = field, errors or [], retry_after


class ClientProblem(ApiProblem):
    """4xx: the request was at fault; `field` names the value to fix when one was."""


class ServerProblem(ApiProblem):
    """5xx: the server failed or a dependency is down; the same request may be sent again."""


class BadRequest(ClientProblem):
    """400: the body is not JSON."""


class Unauthorized(ClientProblem):
    """401: missing, unknown or expired credentials."""


class Forbidden(ClientProblem):
    """403: the credentials lack the scope the operation needs."""


class NotFound(ClientProblem):
    """404: no such resource in the caller's tenant."""


class Conflict(ClientProblem):
    """409: the resource is not in a state that allows the command, a concurrent write won, or the
    Idempotency-Key was used before for another request (`field` "Idempotency-Key")."""


class ViewBehind(ClientProblem):
    """412: the read model had not caught up with `min_position` in time; retry after `retry_after` s."""


class PayloadTooLarge(ClientProblem):
    """413: the body is over the server's limit."""


class UnsupportedMediaType(ClientProblem):
    """415: the body is not `application/json`."""


class ValidationFailed(ClientProblem):
    """422: a value broke a rule; `field` is the first at fault, `errors` lists every one."""


class BudgetExhausted(ClientProblem):
    """429: the daily token budget is spent; `retry_after` is the seconds until the next UTC day."""


class InternalError(ServerProblem):
    """500: a bug on the server (logged there)."""


class Unavailable(ServerProblem):
    """503: a dependency of the server is down; retry after `retry_after` seconds."""


BY_STATUS: dict[int, type[ApiProblem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: ViewBehind,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: BudgetExhausted,
    500: InternalError,
    503: Unavailable,
}


def _retry_after(value: str | None) -> int | None:
    """Retry-After in seconds (the API sends delta-seconds; an HTTP date is not used by it)."""
    return int(value) if value and value.strip().isdigit() else None


def problem_of(response: httpx.Response) -> ApiProblem:
    """The exception for an error response: its problem+json body when it has one, else the status line."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    family = ClientProblem if status < 500 else ServerProblem
    kind = BY_STATUS.get(status, family)
    return kind(
        status,
        str(body.get("title") or response.reason_phrase),
        str(body.get("detail") or response.text[:500]),
        type=str(body.get("type") or "about:blank"),
        field=body.get("field"),
        errors=body.get("errors"),
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )
