"""The session aggregate: its state, how events fold into it, and one decision per command."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.decider import Decider
from domain.errors import InvalidCommand, NotFound, StateConflict, UnexpectedEvent
from domain.events import DomainEvent
from domain.session.commands import (
    AppendReplyChunk,
    CancelReply,
    CloseSession,
    ForkSession,
    PostAssistantReply,
    PostSystemMessage,
    PostUserMessage,
    StartSession,
)
from domain.session.errors import ReplyCancelledError, SessionAlreadyStarted, SessionClosedError, TextTooLong
from domain.session.events import (
    AssistantReplyChunk,
    ForkOrigin,
    MessagePosted,
    ReplyCancelled,
    Role,
    SessionClosed,
    SessionStarted,
)
from domain.validation import require_at_least, require_text

if TYPE_CHECKING:  # domain.history reads the deciders, this one among them
    from domain.history import PastState

STREAM_TYPE = "session"
MAX_TEXT_CHARS = 32_000


@dataclass(frozen=True, kw_only=True)
class Session:
    """A session's state: owner, persona, whether it is closed, messages posted, the version of the last
    ReplyCancelled (`cancelled_at`, 0: none), events folded."""

    session_id: UUID
    tenant_id: str
    persona_id: str | None = None
    closed: bool = False
    message_count: int = 0
    last_message_id: UUID | None = None
    cancelled_at: int = 0
    forked_at: int = 0
    version: int = 0


def stream_id(session_id: UUID) -> str:
    """The id of a session's stream."""
    return str(session_id)


def evolve(state: Session | None, event: DomainEvent) -> Session:
    """The state after one more event; a chunk changes nothing but the version."""
    match state, event:
        case None, SessionStarted():
            forked_at = event.forked_from.version if event.forked_from else 0
            return Session(
                session_id=event.session_id,
                tenant_id=event.tenant_id,
                persona_id=event.persona_id,
                forked_at=forked_at,
                version=1,
            )
        case Session(), MessagePosted():
            return replace(
                state,
                message_count=state.message_count + 1,
                last_message_id=event.message_id,
                version=state.version + 1,
            )
        case Session(), AssistantReplyChunk():
            return replace(state, version=state.version + 1)
        case Session(), SessionClosed():
            return replace(state, closed=True, version=state.version + 1)
        case Session(), ReplyCancelled():
            return replace(state, cancelled_at=state.version + 1, version=state.version + 1)
    raise UnexpectedEvent(STREAM_TYPE, event.type_name(), state.version if state else 0)


DECIDER = Decider(stream_type=STREAM_TYPE, evolve=evolve, state_type=Session)


def start(state: Session | None, command: StartSession) -> list[DomainEvent]:
    """Start a new session owned by the command's tenant; SessionAlreadyStarted if the id is taken."""
    if state is not None:
        raise SessionAlreadyStarted(command.session_id)
    return [SessionStarted(session_id=command.session_id, tenant_id=command.tenant_id, persona_id=command.persona_id)]


def fork(state: Session | None, origin: PastState, command: ForkSession) -> list[DomainEvent]:
    """A new session whose first events are copies of `origin`'s (the original's events up to the fork's
    version, each at the same version), in the fork's name: its first event says where they come from.
    Message ids are new (derived from the fork's id and the original's), replies keep their question."""
    if state is not None:
        raise SessionAlreadyStarted(command.session_id)
    if origin.version < command.at_version:
        reason = f"it is at version {origin.version}: fork at version {origin.version} or before (at_version)"
        raise StateConflict(stream_id(command.origin_id), reason)
    if closed := [e.meta.stream_version for e in origin.events if isinstance(e.event, SessionClosed)]:
        raise StateConflict(stream_id(command.origin_id), f"it was closed at version {closed[0]}: fork it before")
    assert isinstance(origin.state, Session)
    new = command.session_id

    def renamed(message_id: UUID) -> UUID:
        return uuid5(new, str(message_id))

    def copy(event: DomainEvent) -> DomainEvent:
        match event:
            case MessagePosted():
                asked = event.metadata.get("in_reply_to")
                metadata = {**event.metadata, **({"in_reply_to": str(renamed(UUID(asked)))} if asked else {})}
                return replace(event, session_id=new, message_id=renamed(event.message_id), metadata=metadata)
            case AssistantReplyChunk():
                return replace(event, session_id=new, message_id=renamed(event.message_id))
            case ReplyCancelled():
                return replace(event, session_id=new)
        raise UnexpectedEvent(STREAM_TYPE, event.type_name(), 0)  # a started or closed session is not copied

    origin_at = ForkOrigin(session_id=command.origin_id, version=command.at_version)
    started = SessionStarted(
        session_id=new, tenant_id=command.tenant_id, persona_id=origin.state.persona_id, forked_from=origin_at
    )
    return [started, *(copy(e.event) for e in origin.events[1:])]


def post_user_message(state: Session | None, command: PostUserMessage) -> list[DomainEvent]:
    """Post the user's message to an open session of the command's tenant."""
    open_session = _open_session(state, command.session_id, command.tenant_id)
    return [
        MessagePosted(
            session_id=open_session.session_id,
            message_id=command.message_id,
            role=Role.USER,
            text=_valid_text("text", command.text),
            attachments=command.attachments,
            metadata=dict(command.metadata),
        )
    ]


def post_system_message(state: Session | None, command: PostSystemMessage) -> list[DomainEvent]:
    """Post a system message (instructions, notices) to an open session of the command's tenant."""
    open_session = _open_session(state, command.session_id, command.tenant_id)
    return [
        MessagePosted(
            session_id=open_session.session_id,
            message_id=command.message_id,
            role=Role.SYSTEM,
            text=_valid_text("text", command.text),
            metadata=dict(command.metadata),
        )
    ]


def post_assistant_reply(state: Session | None, command: PostAssistantReply) -> list[DomainEvent]:
    """Record a streamed reply: one chunk event per chunk (index first_index, first_index + 1, ...), then
    the whole message; refused (ReplyCancelledError) when it answers a message whose replies were cancelled.

    Chunks may be whitespace (streams split anywhere) but not empty, each at most MAX_TEXT_CHARS;
    the final text follows the message rules. Chunks need not join to the final text.
    """
    open_session = _open_session(state, command.session_id, command.tenant_id)
    if command.reply_to_version is not None and is_cancelled(open_session, command.reply_to_version):
        raise ReplyCancelledError(command.session_id)
    text = _valid_text("text", command.text)
    for chunk in command.chunks:
        _valid_chunk(chunk)
    first = require_at_least("first_index", command.first_index, 0)
    events: list[DomainEvent] = [
        AssistantReplyChunk(session_id=open_session.session_id, message_id=command.message_id, index=i, text=chunk)
        for i, chunk in enumerate(command.chunks, start=first)
    ]
    events.append(
        MessagePosted(
            session_id=open_session.session_id,
            message_id=command.message_id,
            role=Role.ASSISTANT,
            text=text,
            metadata=dict(command.metadata),
        )
    )
    return events


def append_reply_chunk(state: Session | None, command: AppendReplyChunk) -> list[DomainEvent]:
    """Record one streamed piece of a reply, unless the reply was cancelled (ReplyCancelledError): the
    session was cancelled after the user message it answers."""
    open_session = _open_session(state, command.session_id, command.tenant_id)
    if is_cancelled(open_session, command.reply_to_version):
        raise ReplyCancelledError(command.session_id)
    _valid_chunk(command.text)
    index = require_at_least("index", command.index, 0)
    return [
        AssistantReplyChunk(
            session_id=command.session_id, message_id=command.message_id, index=index, text=command.text
        )
    ]


def is_cancelled(state: Session, reply_to_version: int) -> bool:
    """Whether a reply to the message at stream version `reply_to_version` was cancelled."""
    return state.cancelled_at > reply_to_version


def cancel_reply(state: Session | None, command: CancelReply) -> list[DomainEvent]:
    """Stop every reply in progress in an open session of the command's tenant (recorded even when none
    runs: the worker may not have started the reply yet)."""
    open_session = _open_session(state, command.session_id, command.tenant_id)
    return [ReplyCancelled(session_id=open_session.session_id, reason=command.reason)]


def close(state: Session | None, command: CloseSession) -> list[DomainEvent]:
    """Close an open session of the command's tenant; SessionClosedError if it is closed already."""
    open_session = _open_session(state, command.session_id, command.tenant_id)
    return [SessionClosed(session_id=open_session.session_id, reason=command.reason)]


def _open_session(state: Session | None, session_id: UUID, tenant_id: str) -> Session:
    """The session, if it exists, belongs to tenant_id (else NotFound: no leak) and is open."""
    if state is None or state.tenant_id != tenant_id:
        raise NotFound(STREAM_TYPE, stream_id(session_id))
    if state.closed:
        raise SessionClosedError(session_id)
    return state


def _valid_text(field: str, text: str) -> str:
    require_text(field, text)
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(field, len(text), MAX_TEXT_CHARS)
    return text


def _valid_chunk(chunk: str) -> None:
    if not chunk:
        raise InvalidCommand("chunks", "must not contain an empty chunk")
    if len(chunk) > MAX_TEXT_CHARS:
        raise TextTooLong("chunks", len(chunk), MAX_TEXT_CHARS)
