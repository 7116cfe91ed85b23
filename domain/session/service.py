"""Session commands as services: `await post_user_message(store, context, command)` and so on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.budget.aggregate import DEFAULT_PERSONA
from domain.budget.service import require_budget
from domain.events import AppendResult, CommandContext, DomainEvent
from domain.history import StreamReader, state_at
from domain.service import EventStore, command, execute
from domain.session.aggregate import (
    DECIDER,
    STREAM_TYPE,
    Session,
    append_reply_chunk,
    cancel_reply,
    close,
    fork,
    post_assistant_reply,
    post_system_message,
    post_user_message,
    start,
    stream_id,
)
from domain.session.commands import (
    ForkSession,
    PostUserMessage,
    StartSession,
)

start_session = command(DECIDER, lambda c: stream_id(c.session_id), start, retries=0, creates=True)
# a user may write while the conversation worker streams a reply into the same session, one append
# per chunk: re-deciding a message on the newer state is safe, and losing that race is no user's fault
# the worker replies on the same stream between a user's messages, so what the API remembers is often behind:
# trying it first costs nothing then, the refused append returns what it missed (domain/service.py)
post_user = command(DECIDER, lambda c: stream_id(c.session_id), post_user_message, retries=20)
post_system = command(DECIDER, lambda c: stream_id(c.session_id), post_system_message)
post_reply = command(DECIDER, lambda c: stream_id(c.session_id), post_assistant_reply)
# re-deciding a close on a newer state is safe (it checks the session is still open); another
# process (the conversation worker) appending replies makes this process's remembered state stale
close_session = command(DECIDER, lambda c: stream_id(c.session_id), close)
append_chunk = command(DECIDER, lambda c: stream_id(c.session_id), append_reply_chunk)
cancel = command(DECIDER, lambda c: stream_id(c.session_id), cancel_reply)


@dataclass(frozen=True, kw_only=True)
class StartWithMessage:
    """Open a session and post its first user message, atomically."""

    start: StartSession
    message: PostUserMessage


def _start_with_message(state: Session | None, cmd: StartWithMessage) -> Sequence[DomainEvent]:
    started = start(state, cmd.start)
    return [*started, *post_user_message(DECIDER.fold(started, state), cmd.message)]


async def start_with_message(store: EventStore, context: CommandContext, cmd: StartWithMessage) -> AppendResult:
    """Both events in one append: there is never a session without its first message, or the reverse."""
    return await execute(
        store,
        DECIDER,
        stream_id(cmd.start.session_id),
        context,
        lambda state: _start_with_message(state, cmd),
        retries=0,
        creates=True,
    )


class ForkStore(EventStore, StreamReader, Protocol):
    """An event store that also reads streams as recorded (the fork copies one)."""


async def fork_session(store: ForkStore, context: CommandContext, cmd: ForkSession) -> AppendResult:
    """Start `cmd.session_id` as a copy of `cmd.origin_id` up to `cmd.at_version`, in one append; the
    original is only read. Another tenant's session, or a version it does not have, is refused."""
    origin = await state_at(
        store, stream_id(cmd.origin_id), version=cmd.at_version, tenant_id=cmd.tenant_id, stream_type=STREAM_TYPE
    )
    return await execute(
        store,
        DECIDER,
        stream_id(cmd.session_id),
        context,
        lambda state: fork(state, origin, cmd),
        retries=0,
        creates=True,
    )


async def require_budget_for(
    store: EventStore, tenant_id: str, session_id: UUID | None, persona_id: str | None, day: date
) -> None:
    """Raise BudgetExhausted when the persona a user message would go to has no tokens left on `day`:
    the session's own persona, else `persona_id` (a new session's), else DEFAULT_PERSONA (what a session
    without a persona charges). Another tenant's session is NotFound."""
    if session_id is not None:
        session = (await store.load(DECIDER, stream_id(session_id), tenant_id))[0]
        persona_id = (session.persona_id if session else None) or persona_id
    await require_budget(store, tenant_id, persona_id or DEFAULT_PERSONA, day)
