"""Events of a tool execution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
class ToolAllowed(ToolEvent):
    """Policy allowed the call: `reason` says why, `policy` names the policy that decided."""

    reason: str
    policy: str


@dataclass(frozen=True, kw_only=True)
class ToolApprovalRequested(ToolEvent):
    """Policy wants a person to decide: the execution waits until it is approved or denied, or until
    `expires_at`, when it ends timed out (None: asked before deadlines were recorded, it waits for a person)."""

    reason: str
    policy: str
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ToolApproved(ToolEvent):
    """A person with the right to approve let the call run."""

    approved_by: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ToolDenied(ToolEvent):
    """Policy refused the call, or a person did (`denied_by`, None for a policy decision)."""

    reason: str
    policy: str
    denied_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolCompleted(ToolEvent):
    result_json: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class ToolFailed(ToolEvent):
    error: str
    timed_out: bool
    duration_ms: int


EVENTS = (
    ToolRequested,
    ToolAllowed,
    ToolApprovalRequested,
    ToolApproved,
    ToolDenied,
    ToolCompleted,
    ToolFailed,
)
