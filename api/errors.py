"""Every error as `application/problem+json` (RFC 9457): one table maps domain errors to statuses.

A body names the problem `type`, a `title`, the `status`, a `detail` saying what was wrong and,
where one value was at fault, the `field`. Validation problems list every field in `errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from contracts.errors import ContractError, EventRejected, RegistryUnavailable, SchemaNotRegistered
from domain.budget.errors import BudgetExhausted
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidCommand,
    NotFound,
    StateConflict,
    Unavailable,
)
from eventstore.errors import POSTGRES_OUTAGES
from observability.metrics import BUDGET_REFUSALS
from projections.queries import REDIS_OUTAGES, ViewBehind

PROBLEM_JSON = "application/problem+json"
BUG_DETAIL = "the server failed to handle the request; it has been logged"
PROBLEM_REF = "#/components/schemas/Problem"
log = logging.getLogger("agentlog.api")


class FieldProblem(BaseModel):
    field: str = Field(description="where the value was, e.g. `message` or `metadata.lang`")
    message: str


class Problem(BaseModel):
    """An error response body (RFC 9457 problem details)."""

    type: str = Field(description="a URI naming the kind of problem", examples=["urn:agentlog:problem:not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["session 0b7c... not found"])
    field: str | None = Field(default=None, description="the request value at fault, when there is one")
    errors: list[FieldProblem] | None = Field(default=None, description="every invalid value (422 only)")


class ApiError(Exception):
    """An error the API itself raises (authentication, scopes, sizes, missing read models)."""

    def __init__(
        self, status: int, kind: str, detail: str, *, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.field = status, kind, detail, field
        self.headers = dict(headers or {})


class HttpProblem(HTTPException):
    """An ApiError for where only an HTTPException gets through (FastAPI turns others into 400 while reading a body)."""

    def __init__(self, status: int, kind: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(status, detail)
        self.kind, self.field = kind, field


TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "View behind",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many tokens",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    kind: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:agentlog:problem:{kind}", "title": TITLES.get(status, "Error")}
    body |= {"status": status, "detail": detail}
    body |= {"field": field} if field else {}
    body |= {"errors": errors} if errors is not None else {}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def seconds_to_midnight(now: datetime | None = None) -> int:
    """Until the next UTC day, when daily token budgets start again."""
    now = now or datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(int((tomorrow - now).total_seconds()), 1)


def from_domain(e: DomainError | ContractError | ViewBehind) -> JSONResponse:
    """The one table: each domain error's status, problem type and offending field."""
    match e:
        case NotFound():
            return problem(404, "not-found", str(e), field=e.field)
        case IdempotencyKeyReused():  # the API scopes keys as "<tenant>:<key>" (api/deps.py): show the client's
            key = e.key.partition(":")[2] or e.key
            detail = f"Idempotency-Key {key!r} was already used for a different request; send a new key"
            # 409: the key's first request, not this one, is what is in the way (the IETF draft's 422 would say the
            # request itself is invalid, which Schemathesis and clients rightly read as a refusal of valid input)
            return problem(409, "idempotency-key-reused", detail, field="Idempotency-Key")
        case InvalidCommand():
            return problem(422, "invalid-value", e.reason, field=e.field)
        case ConcurrencyConflict():
            return problem(409, "concurrency-conflict", f"{e}; retry the request")
        case StateConflict():
            return problem(409, "state-conflict", e.reason)
        case BudgetExhausted():
            BUDGET_REFUSALS.labels("api").inc()
            return problem(429, "budget-exhausted", str(e), headers={"Retry-After": str(seconds_to_midnight())})
        case ViewBehind():
            return problem(
                412, "view-behind", f"{e}; retry shortly", field="min_position", headers={"Retry-After": "1"}
            )
        case EventRejected():
            return problem(422, "event-rejected", str(e))
        case RegistryUnavailable() | SchemaNotRegistered():  # the server's dependency, never the caller's fault
            return unavailable(Unavailable("schema registry", str(e)))
    log.error("unmapped domain error: %r", e)
    return problem(422, "rejected", str(e))


# Driver errors that mean a dependency is down, for the paths that meet a driver without an adapter
# in between (authentication's key lookup, the read models): Redis refused, loading its data or slow.
OUTAGES: dict[type[Exception], str] = {
    **dict.fromkeys(POSTGRES_OUTAGES, "postgres"),
    **dict.fromkeys(REDIS_OUTAGES, "redis"),
}


def unavailable(e: Unavailable) -> JSONResponse:
    """503 with Retry-After: a dependency is down; the request may be sent again as it is."""
    log.warning("%s", e)
    detail = f"{e}; retry in {e.retry_after} s (a retry with the same Idempotency-Key is safe)"
    return problem(503, "unavailable", detail, headers={"Retry-After": str(e.retry_after)})


def _validation(e: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body", "message": err["msg"]}
        for err in e.errors()
    ]
    if any(err["type"] == "json_invalid" for err in e.errors()):
        return problem(400, "malformed-json", "the body is not valid JSON: " + errors[0]["message"], field="body")
    detail = "; ".join(f"{err['field']}: {err['message']}" for err in errors)
    return problem(422, "validation", detail, field=errors[0]["field"] if errors else None, errors=errors)


def allowed_methods(request: Request) -> str | None:
    """Every method the request's path answers, as the document lists them (HEAD with GET), or None for a
    path it does not list. Starlette's 405 names only the methods of the first route that matched the path,
    and GET, PUT and DELETE of one path are three routes here."""
    for path, item in request.app.openapi()["paths"].items():
        if compile_path(path)[0].match(request.scope["path"]):
            methods = {method.upper() for method in item} | ({"HEAD"} if "get" in item else set())
            return ", ".join(sorted(methods))
    return None


def install(app: FastAPI) -> None:
    """Route every error through `problem`, never a stack trace."""

    async def on_domain(_r: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, DomainError | ContractError | ViewBehind)
        return from_domain(e)

    async def on_api(_r: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, ApiError)
        return problem(e.status, e.kind, e.detail, field=e.field, headers=e.headers)

    async def on_validation(_r: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, RequestValidationError)
        return _validation(e)

    async def on_http(_r: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, HTTPException)
        if isinstance(e, HttpProblem):
            return problem(e.status_code, e.kind, str(e.detail), field=e.field, headers=e.headers)
        kind = TITLES.get(e.status_code, "error").lower().replace(" ", "-")
        headers = dict(e.headers or {})
        if e.status_code == 405 and (allow := allowed_methods(_r)):
            headers["Allow"] = allow
        return problem(e.status_code, kind, str(e.detail), headers=headers)

    async def on_unavailable(_r: Request, e: Exception) -> JSONResponse:
        if isinstance(e, Unavailable):
            return unavailable(e)
        dependency = next(name for kind, name in OUTAGES.items() if isinstance(e, kind))
        return unavailable(Unavailable(dependency, f"{type(e).__name__}: {e}"))

    async def on_bug(request: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=e)
        return problem(500, "internal-error", BUG_DETAIL)

    for kind in (DomainError, ContractError, ViewBehind):
        app.add_exception_handler(kind, on_domain)
    app.add_exception_handler(ApiError, on_api)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    outages: tuple[type[Exception], ...] = (Unavailable, *OUTAGES)
    for outage in outages:
        app.add_exception_handler(outage, on_unavailable)
    app.add_exception_handler(Exception, on_bug)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses an operation can give: `statuses`, and those every operation
    under /v1 can (401 credentials, 422 an invalid value, 503 a dependency down)."""
    return {
        status: {"description": TITLES[status], "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}}
        for status in sorted({401, 422, 503, *statuses})
    }
