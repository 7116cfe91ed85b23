"""Commands of a conversation session; each carries the tenant asking, so foreign tenants see nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from domain.session.events import Attachment


@dataclass(frozen=True, kw_only=True)
class StartSession:
    session_id: UUID
    tenant_id: str
    persona_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ForkSession:
    """Start `session_id` with the history of `origin_id` up to `at_version`, to go on from there."""

    session_id: UUID
    tenant_id: str
    origin_id: UUID
    at_version: int


@dataclass(frozen=True, kw_only=True)
class PostUserMessage:
    session_id: UUID
    tenant_id: str
    message_id: UUID
    text: str
    attachments: tuple[Attachment, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PostSystemMessage:
    session_id: UUID
    tenant_id: str
    message_id: UUID
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PostAssistantReply:
    """A reply streamed as `chunks` (in order, possibly none; the first numbered `first_index`, after
    those appended before), then recorded whole as `text`. With `reply_to_version` (the stream version
    of the user message it answers) it is refused once that reply was cancelled."""

    session_id: UUID
    tenant_id: str
    message_id: UUID
    chunks: tuple[str, ...]
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    first_index: int = 0
    reply_to_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CloseSession:
    session_id: UUID
    tenant_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class AppendReplyChunk:
    """One streamed piece (`index` from 0) of the reply `message_id` to the user message recorded at
    stream version `reply_to_version`; refused once that reply was cancelled."""

    session_id: UUID
    tenant_id: str
    message_id: UUID
    index: int
    text: str
    reply_to_version: int


@dataclass(frozen=True, kw_only=True)
class CancelReply:
    """Stop every reply in progress in the session."""

    session_id: UUID
    tenant_id: str
    reason: str | None = None
