"""The session aggregate: its state, how events fold into it, and one decision per command."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from domain.decider import Decider
from domain.errors import InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.session.commands import (
    AppendReplyChunk,
    CancelReply,
    CloseSession,
    PostAssistantReply,
    PostSystemMessage,
    PostUserMessage,
    StartSession,
)
from domain.session.errors import ReplyCancelledError, SessionAlreadyStarted, SessionClosedError, TextTooLong
from domain.session.events import (
    AssistantReplyChunk,
    MessagePosted,
    ReplyCancelled,
    Role,
    SessionClosed,
    SessionStarted,
)
from domain.validation import require_at_least, require_text

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
    version: int = 0


def stream_id(session_id: UUID) -> str:
    """The id of a session's stream."""
    return str(session_id)


def evolve(state: Session | None, event: DomainEvent) -> Session:
    """The state after one more event; a chunk changes nothing but the version."""
    match state, event:
        case None, SessionStarted():
            return Session(
                session_id=event.session_id, tenant_id=event.tenant_id, persona_id=event.persona_id, version=1
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
