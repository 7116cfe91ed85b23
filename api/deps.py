"""The dependencies routes declare: the caller, its command context, and the app's services."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from api.auth import Authenticator, Caller
from api.schemas import MAX_INT
from api.settings import ApiSettings
from api.tenants import Tenants
from domain.events import CommandContext, TraceContext
from eventstore.store import PostgresEventStore
from observability import bind, traceparent_from
from observability.tracing import annotate, traceparent_of
from projections.queries import ReadModels


@dataclass(frozen=True)
class Services:
    """What the app connected to at start-up (see api/app.py)."""

    settings: ApiSettings
    store: PostgresEventStore
    reads: ReadModels
    tenants: Tenants
    auth: Authenticator

    async def read_your_write(self, view: str, stream_id: str, position: int) -> None:
        """Return once `view` shows every event of the stream the store held at `position` (a command's answer):
        at once when it applied `position`, or when the stream had no event up to it (a read that then finds
        nothing is a 404, not a wait); ViewBehind after the read wait. The position a client passes may be that
        of a write to another stream, or past the store's end: what counts is this stream's last event up to it."""
        if await self.reads.applied(view, stream_id) >= position:
            return
        if last := await self.store.last_position(stream_id, position):
            await self.reads.wait_for(view, stream_id, last, self.settings.api_read_wait)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


class _RawBearer(HTTPBearer):
    """Documents the `Authorization: Bearer` scheme; hands the header as sent to the Authenticator, which says
    what is wrong with it (HTTPBearer itself drops a malformed header silently)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


class _RawApiKey(APIKeyHeader):
    """Documents the `X-API-Key` scheme; hands the header as sent to the Authenticator."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("x-api-key")


API_KEY = _RawApiKey(
    name="X-API-Key", scheme_name="ApiKey", auto_error=False, description="an API key, `alk_...` (`agentlog tenants`)"
)
BEARER = _RawBearer(
    scheme_name="BearerJWT",
    bearerFormat="JWT",
    auto_error=False,
    description="a JWT with `tenant` and `scope` claims, or an API key as the token (`Bearer alk_...`)",
)


async def caller(
    svc: ServicesDep,
    x_api_key: Annotated[str | None, Security(API_KEY)],
    authorization: Annotated[str | None, Security(BEARER)],
) -> Caller:
    """The authenticated caller, from either security scheme (the API key wins when both are sent); else 401."""
    who = await svc.auth.caller(authorization, x_api_key)
    bind(tenant=who.tenant_id)  # the request's log records name the tenant from here on (see api/middleware.py)
    annotate(tenant=who.tenant_id)  # and so does its span (api/tracing.py)
    return who


CallerDep = Annotated[Caller, Depends(caller)]


async def admin(who: CallerDep) -> Caller:
    who.require("admin")
    return who


AdminDep = Annotated[Caller, Depends(admin)]


async def platform_admin(who: CallerDep) -> Caller:
    """For platform-wide resources (model profiles): a tenant's `admin` scope does not reach them."""
    who.require("platform-admin")
    return who


PlatformAdminDep = Annotated[Caller, Depends(platform_admin)]


def _trace(traceparent: str | None) -> TraceContext | None:
    """The caller's trace context, continued by the request's span when one records (api/tracing.py), so the
    events carry that span's traceparent and what they cause downstream joins the same trace. A traceparent
    that is not W3C syntax is ignored and a new trace starts, as W3C Trace Context says a receiver must."""
    traceparent = traceparent_of() or traceparent_from(traceparent)
    return TraceContext(traceparent=traceparent) if traceparent else None


async def _fingerprint(request: Request) -> str:
    """What makes two requests the same: method, path and the body's JSON value (not its spelling:
    whitespace and key order do not count). api/body.py has let through only JSON bodies; a route
    that takes no body ignores any sent, and so does its fingerprint."""
    takes_body = getattr(request.scope.get("route"), "body_field", None) is not None
    raw = await request.body() if takes_body else b""
    body = json.dumps(await request.json(), sort_keys=True, separators=(",", ":")) if raw else ""
    return hashlib.sha256(f"{request.method} {request.url.path}\n{body}".encode()).hexdigest()


async def command_context(
    request: Request,
    who: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="makes the POST safe to retry: a retry returns the first response and records nothing",
        ),
    ] = None,
    traceparent: Annotated[
        str | None,
        Header(
            description="W3C trace context (`00-<trace id>-<parent id>-<flags>`), kept with the events; one that "
            "is not W3C syntax is ignored (a new trace starts), as W3C Trace Context says",
            examples=["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
        ),
    ] = None,
) -> CommandContext:
    """Who asks and why; the request's fingerprint makes a reused Idempotency-Key with another body a 409.

    Keys are scoped per tenant as `<tenant>:<key>` (tenant ids have no ':'); problems show the client's part.
    """
    return CommandContext(
        tenant_id=who.tenant_id,
        correlation_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        trace=_trace(traceparent),
        idempotency_key=f"{who.tenant_id}:{idempotency_key}" if idempotency_key else None,
        request_hash=await _fingerprint(request) if idempotency_key else None,
    )


ContextDep = Annotated[CommandContext, Depends(command_context)]

MinPosition = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_INT,
        description="read-your-writes: wait (bounded) until the view shows what the store held of this resource "
        "at this position (a command's `position`); 412 if it does not in time",
    ),
]
