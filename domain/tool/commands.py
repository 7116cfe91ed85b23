"""Commands of a tool execution: request it, decide on it, then record exactly one outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, kw_only=True)
class RequestTool:
    request_id: UUID
    tool_name: str
    arguments_json: str
    session_id: UUID | None = None
    timeout_ms: int = 30_000


@dataclass(frozen=True, kw_only=True)
class AllowTool:
    """Policy allowed the call; `policy` names the policy that did."""

    request_id: UUID
    reason: str
    policy: str


@dataclass(frozen=True, kw_only=True)
class AskApproval:
    """Policy wants a person to decide before the call runs, by `expires_at` (None: no deadline)."""

    request_id: UUID
    reason: str
    policy: str
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ApproveTool:
    """A person (`approved_by`: who) lets a call that awaits approval run, at `decided_at` (checked against the
    approval deadline; None: not checked)."""

    request_id: UUID
    approved_by: str
    note: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DenyTool:
    """Policy refused the call (`policy` names it), or a person did (`denied_by`: who; the call must await
    approval, and `decided_at`, when given, be before its approval deadline)."""

    request_id: UUID
    reason: str
    policy: str
    denied_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CompleteTool:
    request_id: UUID
    result_json: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class FailTool:
    request_id: UUID
    error: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class TimeOutTool:
    """The executor gave up; `duration_ms` defaults to the request's timeout."""

    request_id: UUID
    duration_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExpireApproval:
    """Nobody approved or denied the call by its approval deadline: as of `at`, it ends timed out."""

    request_id: UUID
    at: datetime
