"""The dependencies routes declare: the caller, its command context, and the app's services."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from api.auth import Authenticator, Caller
from api.settings import ApiSettings
from api.tenants import Tenants
from domain.events import CommandContext, TraceContext
from eventstore.store import PostgresEventStore
from observability import bind
from projections.queries import ReadModels


@dataclass(frozen=True)
class Services:
    """What the app connected to at start-up (see api/app.py)."""

    settings: ApiSettings
    store: PostgresEventStore
    reads: ReadModels
    tenants: Tenants
    auth: Authenticator


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


async def caller(
    svc: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <JWT>` or `Bearer alk_...` (API key)")] = None,
    x_api_key: Annotated[str | None, Header(description="an API key, `alk_...`")] = None,
) -> Caller:
    who = await svc.auth.caller(authorization, x_api_key)
    bind(tenant=who.tenant_id)  # the request's log records name the tenant from here on (see api/middleware.py)
    return who


CallerDep = Annotated[Caller, Depends(caller)]


async def admin(who: CallerDep) -> Caller:
    who.require("admin")
    return who


AdminDep = Annotated[Caller, Depends(admin)]


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
    traceparent: Annotated[str | None, Header(max_length=55, include_in_schema=False)] = None,
) -> CommandContext:
    """Who asks and why; the request's hash makes a reused Idempotency-Key with another body a 422."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + await request.body()).hexdigest()
    return CommandContext(
        tenant_id=who.tenant_id,
        correlation_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        trace=TraceContext(traceparent=traceparent) if traceparent else None,
        idempotency_key=f"{who.tenant_id}:{idempotency_key}" if idempotency_key else None,
        request_hash=digest if idempotency_key else None,
    )


ContextDep = Annotated[CommandContext, Depends(command_context)]

MinPosition = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**62,
        description="read-your-writes: wait (bounded) until the view has applied this store position "
        "(a command's `position`); 412 if it does not in time",
    ),
]
