"""Sessions: post a message (starting the session when needed), list, read, close, raw events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from api.auth import Caller
from api.body import JsonRoute
from api.deps import CallerDep, ContextDep, MinPosition, Services, ServicesDep
from api.errors import ApiError, responses
from api.schemas import (
    NOT_BLANK,
    HttpUrlText,
    Metadata,
    Name,
    NonNegativeInt,
    Page,
    Recorded,
    Strict,
    from_millis,
    recorded,
)
from api.session_events import RawEvent, raw_events
from domain.history import PastState, state_at
from domain.session.aggregate import STREAM_TYPE, Session
from domain.session.commands import CancelReply, CloseSession, ForkSession, PostUserMessage, StartSession
from domain.session.events import Attachment, SessionClosed
from domain.session.service import (
    StartWithMessage,
    cancel,
    close_session,
    fork_session,
    post_user,
    require_budget_for,
    start_with_message,
)
from projections.views import VIEWS

router = APIRouter(tags=["sessions"], route_class=JsonRoute)
SessionId = Annotated[UUID, Path(description="the session's id")]
MEDIA_TYPE = r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+$"  # ASCII spelled out: `\w` is Unicode to Python, ASCII to JS


class AttachmentIn(Strict):
    name: str = Field(min_length=1, max_length=500)
    media_type: str = Field(min_length=3, max_length=200, pattern=MEDIA_TYPE, examples=["image/png"])
    url: HttpUrlText = Field(description="an http(s) URL, kept as written", examples=["https://files.example/q3.pdf"])
    size_bytes: NonNegativeInt | None = None


class MessageIn(Strict):
    session_id: UUID | None = Field(default=None, description="omit to start a new session")
    persona_id: Name | None = Field(default=None, description="the persona a new session talks to")
    message: str = Field(
        min_length=1, max_length=32_000, pattern=NOT_BLANK, examples=["What changed in the Q3 report?"]
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    metadata: Metadata = Field(default_factory=dict)


class MessageAccepted(Recorded):
    session_id: UUID


class SessionOut(BaseModel):
    session_id: UUID
    persona_id: str | None
    status: str = Field(examples=["open"])
    messages: int
    started_at: datetime | None
    last_activity: datetime | None
    closed_at: datetime | None


class SessionPage(Page):
    items: list[SessionOut]


class MessageOut(BaseModel):
    message_id: UUID
    role: str = Field(examples=["user"])
    text: str
    attachments: list[dict[str, Any]]
    metadata: dict[str, str]
    at: datetime
    version: int = Field(description="the message's version in the session's stream")


class MessagePage(Page):
    items: list[MessageOut]


class CloseIn(Strict):
    reason: str | None = Field(default=None, max_length=2000)


class SessionClosedOut(Recorded):
    session_id: UUID


class ForkIn(Strict):
    at_version: int = Field(ge=1, le=2**31 - 1, examples=[3],
                            description="the fork's history is the session's events up to this version")  # fmt: skip
    session_id: UUID | None = Field(default=None, description="the fork's id; omit for a new one")


class ForkOrigin(BaseModel):
    session_id: UUID
    version: int


class SessionForkedOut(Recorded):
    session_id: UUID = Field(description="the fork")
    forked_from: ForkOrigin


class CancelIn(Strict):
    reason: str | None = Field(default=None, max_length=2000)


class ReplyCancelledOut(Recorded):
    session_id: UUID


def _session(row: dict[str, str], session_id: str) -> SessionOut:
    return SessionOut(
        session_id=UUID(session_id),
        persona_id=row.get("persona_id") or None,
        status=row.get("status", "open"),
        messages=int(row.get("messages", 0)),
        started_at=from_millis(row.get("started_at")),
        last_activity=from_millis(row.get("last_activity")),
        closed_at=from_millis(row.get("closed_at")),
    )


async def owned_session(
    svc: Services,
    who: Caller,
    session_id: UUID,
    min_position: int | None = None,
    views: tuple[str, ...] = ("sessions",),
) -> dict[str, str]:
    """The session's view row when it is the caller's, else 404; with `min_position`, first wait for
    `views` (the sessions view, and any other the caller reads next) to apply it."""
    for view in views if min_position else ():
        await svc.read_your_write(view, str(session_id), min_position or 0)
    row = await svc.reads.session(session_id)
    if row is None or row.get("tenant_id") != who.tenant_id:
        raise ApiError(404, "not-found", f"session {session_id} not found")
    return row


@router.post(
    "/session/message",
    operation_id="postMessage",
    status_code=202,
    response_model=MessageAccepted,
    summary="Post a user message, starting a session when no id is given",
    responses=responses(400, 404, 409, 413, 415, 429),
)
async def post_message(
    body: MessageIn, svc: ServicesDep, who: CallerDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    await require_budget_for(svc.store, who.tenant_id, body.session_id, body.persona_id, ctx.occurred_at.date())
    session = body.session_id or uuid.uuid4()
    message = PostUserMessage(
        session_id=session,
        tenant_id=who.tenant_id,
        message_id=uuid.uuid4(),
        text=body.message,
        attachments=tuple(Attachment(**a.model_dump(mode="json")) for a in body.attachments),
        metadata=body.metadata,
    )
    if body.session_id is None:
        start = StartSession(session_id=session, tenant_id=who.tenant_id, persona_id=body.persona_id)
        result = await start_with_message(svc.store, ctx, StartWithMessage(start=start, message=message))
    else:
        result = await post_user(svc.store, ctx, message)
    response.headers["Location"] = f"/v1/sessions/{result.stream_id}"
    return {"session_id": result.stream_id, **recorded(result)}


@router.get(
    "/sessions",
    operation_id="listSessions",
    response_model=SessionPage,
    summary="The caller's sessions, most recently active first",
    responses=responses(),
)
async def list_sessions(
    svc: ServicesDep,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100, pattern=r"^[0-9]+:[0-9a-f-]{36}$")] = None,
) -> dict[str, object]:
    after = (int(cursor.split(":", 1)[0]), cursor.split(":", 1)[1]) if cursor else None
    found = await svc.reads.sessions(who.tenant_id, limit, after)
    items = [_session(await svc.reads.session(sid) or {}, sid) for sid, _ in found]
    last = f"{found[-1][1]}:{found[-1][0]}" if len(found) == limit else None
    return {"items": items, "next_cursor": last}


@router.get(
    "/sessions/{session_id}",
    operation_id="getSession",
    response_model=SessionOut,
    summary="One session",
    responses=responses(404, 412),
)
async def get_session(
    session_id: SessionId,
    svc: ServicesDep,
    who: CallerDep,
    min_position: MinPosition = None,
    at_version: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="the session as it was after its event of this version (time travel)"),
    ] = None,
) -> SessionOut:
    if at_version is None:
        return _session(await owned_session(svc, who, session_id, min_position), str(session_id))
    past = await state_at(
        svc.store, str(session_id), version=at_version, tenant_id=who.tenant_id, stream_type=STREAM_TYPE
    )
    if past.version < at_version:
        raise ApiError(404, "not-found", f"session {session_id} has no version {at_version}: it is at version "
                       f"{past.version}", field="query.at_version")  # fmt: skip
    return _session_at(past)


def _session_at(past: PastState) -> SessionOut:
    """The session as the sessions view showed it after the events of `past` (their times, the state's counts)."""
    state = past.state
    assert isinstance(state, Session)
    folded = VIEWS["sessions"].folds  # every event the sessions view folds moves its last_activity
    shown = [e.meta.occurred_at for e in past.events if e.event.type_name() in folded]
    closed = [e.meta.occurred_at for e in past.events if isinstance(e.event, SessionClosed)]
    return SessionOut(
        session_id=state.session_id,
        persona_id=state.persona_id,
        status="closed" if state.closed else "open",
        messages=state.message_count,
        started_at=past.events[0].meta.occurred_at,
        last_activity=max(shown),
        closed_at=closed[-1] if closed else None,
    )


@router.get(
    "/sessions/{session_id}/messages",
    operation_id="listSessionMessages",
    response_model=MessagePage,
    summary="A session's messages in order",
    responses=responses(404, 412),
)
async def list_messages(
    session_id: SessionId,
    svc: ServicesDep,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$", description="the last message's version")] = None,
    min_position: MinPosition = None,
) -> dict[str, object]:
    await owned_session(svc, who, session_id, min_position, ("sessions", "transcript"))
    items = await svc.reads.messages(session_id, int(cursor or 0), limit)
    return {"items": items, "next_cursor": str(items[-1]["version"]) if len(items) == limit else None}


@router.get(
    "/sessions/{session_id}/events",
    operation_id="listSessionEvents",
    response_model=list[RawEvent],
    summary="A session's raw events, with event type and schema version",
    responses=responses(404),
)
async def list_events(session_id: SessionId, svc: ServicesDep, who: CallerDep) -> list[RawEvent]:
    events = await raw_events(svc.store, STREAM_TYPE, str(session_id), who.tenant_id)
    if not events:
        raise ApiError(404, "not-found", f"session {session_id} not found")
    return events


@router.post(
    "/sessions/{session_id}/close",
    operation_id="closeSession",
    status_code=202,
    response_model=SessionClosedOut,
    summary="Close a session",
    responses=responses(400, 404, 409, 413, 415),
)
async def close(
    session_id: SessionId,
    svc: ServicesDep,
    who: CallerDep,
    ctx: ContextDep,
    response: Response,
    body: CloseIn | None = None,
) -> dict[str, object]:
    reason = body.reason if body else None
    result = await close_session(
        svc.store, ctx, CloseSession(session_id=session_id, tenant_id=who.tenant_id, reason=reason)
    )
    response.headers["Location"] = f"/v1/sessions/{session_id}"
    return {"session_id": session_id, **recorded(result)}


@router.post(
    "/sessions/{session_id}/fork",
    operation_id="forkSession",
    status_code=202,
    response_model=SessionForkedOut,
    summary="Fork a session at a version, to go on differently from there",
    description="Starts a new session whose history is this session's events up to `at_version` (copied at the "
    "same versions; its first event names the original and the version). The original is untouched; the copied "
    "messages are not answered again, the next message posted to the fork is.",
    responses=responses(400, 404, 409, 413, 415, 422),
)
async def fork_a_session(
    session_id: SessionId, body: ForkIn, svc: ServicesDep, who: CallerDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    fork = ForkSession(
        session_id=body.session_id or uuid.uuid4(), tenant_id=who.tenant_id, origin_id=session_id,
        at_version=body.at_version,
    )  # fmt: skip
    result = await fork_session(svc.store, ctx, fork)
    response.headers["Location"] = f"/v1/sessions/{fork.session_id}"
    origin = {"session_id": session_id, "version": body.at_version}
    return {"session_id": fork.session_id, "forked_from": origin, **recorded(result)}


@router.post(
    "/sessions/{session_id}/cancel",
    operation_id="cancelReply",
    status_code=202,
    response_model=ReplyCancelledOut,
    summary="Stop the replies in progress",
    description="The conversation worker stops before its next chunk, tool step or model call; what was said "
    'stays in the transcript as the reply, with metadata `status` "cancelled", and the live stream shows '
    "`cancelled`. Messages posted afterwards are answered as usual.",
    responses=responses(400, 404, 409, 413, 415),
)
async def cancel_reply(
    session_id: SessionId,
    svc: ServicesDep,
    who: CallerDep,
    ctx: ContextDep,
    response: Response,
    body: CancelIn | None = None,
) -> dict[str, object]:
    reason = body.reason if body else None
    result = await cancel(svc.store, ctx, CancelReply(session_id=session_id, tenant_id=who.tenant_id, reason=reason))
    response.headers["Location"] = f"/v1/sessions/{session_id}"
    return {"session_id": session_id, **recorded(result)}
