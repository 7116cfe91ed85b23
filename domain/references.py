"""Ids a command refers to besides its own stream: each must name a stream of the caller's tenant."""

from __future__ import annotations

from uuid import UUID

from domain.errors import NotFound
from domain.service import EventStore
from domain.session.aggregate import DECIDER as SESSION
from domain.session.aggregate import Session
from domain.session.aggregate import stream_id as session_stream


async def require_session(store: EventStore, field: str, session_id: UUID, tenant_id: str) -> None:
    """Return when `session_id` is a session of `tenant_id`; else NotFound naming `field`.

    Judged on the session's own events in the store (never a read model), so a session started
    a moment ago counts. A session of another tenant reads exactly as one that does not exist.
    """
    state = await _session(store, session_id, tenant_id)
    if state is None or state.tenant_id != tenant_id:
        raise NotFound("session", str(session_id), field)


async def _session(store: EventStore, session_id: UUID, tenant_id: str) -> Session | None:
    try:
        loaded = await store.load(SESSION, session_stream(session_id), tenant_id)
    except NotFound:  # another tenant's
        return None
    return loaded[0]
