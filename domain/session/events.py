"""Events of a conversation session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from domain.events import DomainEvent


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A file or link sent with a message; the bytes live elsewhere, at `url`."""

    name: str
    media_type: str
    url: str
    size_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class SessionEvent(DomainEvent):
    aggregate = "session"
    session_id: UUID


@dataclass(frozen=True, kw_only=True)
class ForkOrigin:
    """Where a forked session's history comes from: its first `version` events are that session's."""

    session_id: UUID
    version: int


@dataclass(frozen=True, kw_only=True)
class SessionStarted(SessionEvent):
    tenant_id: str
    persona_id: str | None = None
    forked_from: ForkOrigin | None = None


@dataclass(frozen=True, kw_only=True)
class MessagePosted(SessionEvent):
    message_id: UUID
    role: Role
    text: str
    attachments: tuple[Attachment, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AssistantReplyChunk(SessionEvent):
    message_id: UUID
    index: int
    text: str


@dataclass(frozen=True, kw_only=True)
class SessionClosed(SessionEvent):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReplyCancelled(SessionEvent):
    """Every reply in progress (to a user message before this event) stops: no chunk, tool call or model
    call follows; what was said stays, and is recorded as the reply with metadata status "cancelled"."""

    reason: str | None = None


EVENTS = (SessionStarted, MessagePosted, AssistantReplyChunk, SessionClosed, ReplyCancelled)
