"""Events of a tool execution."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class ToolEvent(DomainEvent):
    aggregate = "tool"
    request_id: UUID
    tool_name: str


@dataclass(frozen=True, kw_only=True)
class ToolRequested(ToolEvent):
    arguments_json: str
    session_id: UUID | None = None
    timeout_ms: int = 30_000


@dataclass(frozen=True, kw_only=True)
class ToolDenied(ToolEvent):
    reason: str
    policy: str


@dataclass(frozen=True, kw_only=True)
class ToolCompleted(ToolEvent):
    result_json: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class ToolFailed(ToolEvent):
    error: str
    timed_out: bool
    duration_ms: int


EVENTS = (ToolRequested, ToolDenied, ToolCompleted, ToolFailed)
