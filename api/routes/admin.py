"""The event log for scripts (admin): a tenant's events in position order, a page at a time or streamed.

Both stop at the position where the log is settled (`eventstore.queries.settled_position`): an append
still in progress is waited for, never skipped, so a script that goes on from the last position it
read misses nothing and sees nothing twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.body import JsonRoute
from api.deps import AdminDep, Services, ServicesDep
from api.errors import ApiError, responses
from api.session_events import LoggedEvent, logged_events
from eventstore.queries import settled_position

router = APIRouter(tags=["admin"], route_class=JsonRoute)
NDJSON = "application/x-ndjson"
PAGE = 500  # events per read of the NDJSON stream
SETTLING = 5.0  # seconds to wait for transactions in progress before answering 503
AfterPosition = Annotated[int, Query(ge=0, le=2**53 - 1, description="events after this position (0: from the start)")]


class EventPage(BaseModel):
    items: list[LoggedEvent]
    next_cursor: str | None = Field(description="pass as `after_position` for the next page; null when caught up")


@router.get(
    "/admin/events",
    operation_id="listAdminEvents",
    response_model=EventPage,
    summary="The tenant's events in position order, a page at a time (admin)",
    responses=responses(403),
)
async def list_events(
    svc: ServicesDep,
    who: AdminDep,
    after_position: AfterPosition = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    top = await _settled(svc)
    items = await logged_events(svc.store, who.tenant_id, after_position, top, limit)
    return EventPage(items=items, next_cursor=str(items[-1].position) if len(items) == limit else None)


@router.get(
    "/admin/events/stream",
    operation_id="streamAdminEvents",
    summary="The tenant's events in position order as NDJSON, up to the settled position (admin)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/LoggedEvent"}}},
            "description": "one event per line",
        },
        **responses(403),
    },
)
async def stream_events(svc: ServicesDep, who: AdminDep, after_position: AfterPosition = 0) -> StreamingResponse:
    top = await _settled(svc)

    async def lines() -> AsyncIterator[bytes]:
        after = after_position
        while page := await logged_events(svc.store, who.tenant_id, after, top, PAGE):
            yield b"".join(event.model_dump_json().encode() + b"\n" for event in page)
            after = page[-1].position

    return StreamingResponse(lines(), media_type=NDJSON)


async def _settled(svc: Services) -> int:
    try:
        return await settled_position(svc.store.pool, timeout=SETTLING)
    except TimeoutError as e:
        detail = f"a database transaction has run for over {SETTLING:.0f} s: the log is not settled; retry"
        raise ApiError(503, "unavailable", detail, headers={"Retry-After": "1"}) from e
