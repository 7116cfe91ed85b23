"""Live transcript updates: Server-Sent Events and a WebSocket over the session's live Redis Stream.

Both tail `ReadModels.live` from an entry id (the start of the live stream unless the client
resumes), pass each update on with its entry id, and end after the session's `closed` update. The
live stream holds a session's updates in version order (the transcript view puts them there so:
projections/views/transcript.py), so nothing recorded before the closing comes after it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, suppress
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect

from api.auth import Caller
from api.deps import CallerDep, Services, ServicesDep
from api.errors import ApiError, responses
from api.routes.sessions import owned_session
from projections.queries import ReadModels

router = APIRouter(tags=["sessions"])

KEEP_ALIVE = 15.0  # seconds of silence before an SSE comment line, so proxies keep the connection open
BLOCK_MS = 1000  # how long one read waits for updates: also how soon a client that left is noticed
ENTRY_ID = r"^[0-9]{1,19}-[0-9]{1,19}$"  # a Redis Stream entry id; 19 digits always fit its 64-bit parts
START = "0-0"
CLOSE_REASON_BYTES = 123  # the most a WebSocket close frame's reason can hold

Update = tuple[str, str, Any]  # (entry id, kind, data)
SessionId = Annotated[UUID, Path(description="the session's id")]
ResumeId = Annotated[
    str | None,
    Query(pattern=ENTRY_ID, description="resume after this event id (for clients that reconnect by hand)"),
]
ResumeHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="resume after this event id (wins over the query); EventSource sends the last id it saw when it "
        "reconnects, so one that is not an event id of ours is ignored",
    ),
]

EXAMPLE = (
    "id: 1764000000000-0\nevent: message\n"
    'data: {"message_id":"0b7c...","role":"user","text":"Hi","attachments":[],"metadata":{},'
    '"at":"2026-11-24T10:00:00Z","version":2}\n\n'
    'id: 1764000000412-0\nevent: chunk\ndata: {"message_id":"5e1a...","index":0,"text":"Hel","version":3}\n\n'
    'id: 1764000000530-0\nevent: cancelled\ndata: {"reason":null,"version":4}\n\n'
    ": keep-alive\n\n"
    'id: 1764000090000-0\nevent: closed\ndata: {"reason":"done","version":6}\n\n'
)
# OpenAPI 3.1 has the `schema` of text/event-stream describe one event, as EventSource hands it over
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": ENTRY_ID, "description": "resume after it with `Last-Event-ID`"},
        "event": {"enum": ["message", "chunk", "cancelled", "closed"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "required": ["version"],
                "properties": {"version": {"type": "integer", "description": "its version in the session's stream"}},
            },
        },
    },
}
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Events `message`, `chunk`, `cancelled` (replies in progress were stopped) and `closed`, "
        "each with its `id`; a `: keep-alive` comment "
        f"after {KEEP_ALIVE:.0f} s of silence; the stream ends after `closed`",
        "content": {"text/event-stream": {"schema": SSE_EVENT, "example": EXAMPLE}},
    },
    204: {"description": "the client resumed after the session's `closed` event: nothing more will come"},
}


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def _entry(entry: str) -> str:
    """An ENTRY_ID as Redis writes it, each part a number without leading zeros ("0-00000" is "0-0")."""
    ms, seq = (int(part) for part in entry.split("-"))
    return f"{ms}-{seq}"


async def _ended_at(reads: ReadModels, session_id: UUID, after: str) -> bool:
    """Whether entry `after` is the session's `closed` update, so a client resuming there has seen all."""
    if after == START:
        return False
    ms, seq = (int(part) for part in after.split("-"))
    before = f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{2**64 - 1}"  # reads are exclusive: start just before
    found = await reads.live(session_id, before, count=1)
    return bool(found) and found[0][0] == after and found[0][1] == "closed"


async def _tail(
    reads: ReadModels, session_id: UUID, after: str, gone: Callable[[], Awaitable[bool]]
) -> AsyncGenerator[list[Update], None]:
    """Batches of updates after `after` (empty when BLOCK_MS passed quietly) up to and including
    `closed`; stops early once `gone()` says the client left."""
    while not await gone():
        updates = await reads.live(session_id, after, block_ms=BLOCK_MS)
        ends = next((i for i, (_, kind, _) in enumerate(updates) if kind == "closed"), None)
        yield updates if ends is None else updates[: ends + 1]
        if ends is not None:
            return
        after = updates[-1][0] if updates else after


def _event(entry: str, kind: str, data: Any) -> str:
    return f"id: {entry}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


async def _events(request: Request, reads: ReadModels, session_id: UUID, after: str) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    async with aclosing(_tail(reads, session_id, after, request.is_disconnected)) as batches:
        async for updates in batches:
            if updates:  # one write for what arrived together (a reply's last chunk and its message)
                yield "".join(_event(*update) for update in updates)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEP_ALIVE:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"


@router.get(
    "/sessions/{session_id}/stream",
    operation_id="streamSession",
    response_class=EventStream,
    summary="Live transcript updates as Server-Sent Events",
    description="The session's recent transcript (messages, reply chunks, closing), then live updates. "
    "Resume with `Last-Event-ID` (EventSource sends it when it reconnects) or `last_event_id`.",
    responses={**STREAM_DOC, **responses(404)},
)
async def stream(
    session_id: SessionId,
    request: Request,
    svc: ServicesDep,
    who: CallerDep,
    last_event_id: ResumeId = None,
    last_event_id_header: ResumeHeader = None,
) -> Response:
    await owned_session(svc, who, session_id)
    resumed = last_event_id_header if last_event_id_header and re.fullmatch(ENTRY_ID, last_event_id_header) else None
    after = _entry(resumed or last_event_id or START)
    if await _ended_at(svc.reads, session_id, after):
        return Response(status_code=204)  # tells EventSource to stop reconnecting
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering either
    return EventStream(_events(request, svc.reads, session_id, after), headers=headers)


async def _socket_caller(svc: Services, ws: WebSocket) -> Caller:
    """Credentials from the handshake: headers, else `api_key` / `access_token` query parameters
    (browsers cannot set headers on a WebSocket)."""
    token = ws.query_params.get("access_token")
    authorization = ws.headers.get("authorization") or (f"Bearer {token}" if token else None)
    return await svc.auth.caller(authorization, ws.headers.get("x-api-key") or ws.query_params.get("api_key"))


async def _socket_start(svc: Services, ws: WebSocket, session_id: str) -> tuple[UUID, str]:
    """The session and the entry to start after; ApiError (401, 404, 422) when the socket must close."""
    who = await _socket_caller(svc, ws)
    try:
        session = UUID(session_id)
    except ValueError as e:
        raise ApiError(404, "not-found", f"session {session_id} not found") from e
    await owned_session(svc, who, session)
    after = ws.query_params.get("last_event_id") or START
    if not re.fullmatch(ENTRY_ID, after):
        raise ApiError(422, "invalid-value", "last_event_id must be an event id such as 1764000000000-0")
    return session, _entry(after)


async def _until_gone(ws: WebSocket) -> None:
    """Returns when the client disconnects; what it sends is ignored."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def _relay(ws: WebSocket, reads: ReadModels, session: UUID, after: str) -> bool:
    """Send updates until `closed` (True) or until the client leaves (False)."""
    watcher = asyncio.create_task(_until_gone(ws))

    async def gone() -> bool:
        return watcher.done()

    try:
        async with aclosing(_tail(reads, session, after, gone)) as batches:
            async for updates in batches:
                for entry, kind, data in updates:
                    await ws.send_json({"id": entry, "kind": kind, "data": data})
        return not watcher.done()
    except WebSocketDisconnect:
        return False
    finally:
        watcher.cancel()


@router.websocket("/sessions/{session_id}/ws")
async def live_socket(websocket: WebSocket, session_id: str) -> None:
    """The same updates as the SSE stream, as JSON messages `{"id", "kind", "data"}`; closes with
    4000 + the HTTP status on refusal (4401 credentials, 4404 session, 4422 bad `last_event_id`),
    and with 1000 after `closed`."""
    svc: Services = websocket.app.state.services
    await websocket.accept()  # before closing, so the client sees the code rather than a failed handshake
    try:
        session, after = await _socket_start(svc, websocket, session_id)
    except ApiError as e:
        await websocket.close(4000 + e.status, e.detail.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore"))
        return
    if await _ended_at(svc.reads, session, after) or await _relay(websocket, svc.reads, session, after):
        with suppress(WebSocketDisconnect):  # the client may leave at the same moment
            await websocket.close(1000, "session closed")
