"""Errors of a tool execution."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from domain.errors import StateConflict


class ToolAlreadyRequested(StateConflict):
    """A tool execution with this request id exists already; nothing was recorded."""

    def __init__(self, request_id: UUID) -> None:
        super().__init__(str(request_id), "tool already requested")
        self.request_id = request_id


class ToolOutcomeAlreadyRecorded(StateConflict):
    """The execution already has its one outcome (`outcome`: denied, completed, failed or timed_out)."""

    def __init__(self, request_id: UUID, outcome: str) -> None:
        super().__init__(str(request_id), f"outcome already recorded: {outcome}")
        self.request_id = request_id
        self.outcome = outcome


class ToolAlreadyDecided(StateConflict):
    """Policy already decided on this execution (`decision`: allowed, awaiting_approval or approved)."""

    def __init__(self, request_id: UUID, decision: str) -> None:
        super().__init__(str(request_id), f"policy already decided: {decision}")
        self.request_id = request_id
        self.decision = decision


class ToolNotAwaitingApproval(StateConflict):
    """Only an execution awaiting approval can be approved or denied by a person (`status`: what it is now)."""

    def __init__(self, request_id: UUID, status: str) -> None:
        super().__init__(str(request_id), f"the tool execution is not awaiting approval (it is {status})")
        self.request_id = request_id
        self.status = status


class ApprovalDeadlinePassed(StateConflict):
    """A person's decision came at or after the execution's approval deadline (`expires_at`): too late, it ends
    timed out (the tool executor records that)."""

    def __init__(self, request_id: UUID, expires_at: datetime) -> None:
        super().__init__(str(request_id), f"too late: {nobody_decided(expires_at)}; it ends timed_out")
        self.request_id = request_id
        self.expires_at = expires_at


class ApprovalNotDue(StateConflict):
    """The execution awaits approval, but its deadline (`expires_at`; None: it has none) has not passed."""

    def __init__(self, request_id: UUID, expires_at: datetime | None) -> None:
        due = "it has no approval deadline" if expires_at is None else f"its approval deadline is {_utc(expires_at)}"
        super().__init__(str(request_id), due)
        self.request_id = request_id
        self.expires_at = expires_at


def nobody_decided(expires_at: datetime) -> str:
    """Why an execution awaiting approval timed out: the one wording, in its outcome and in refusals."""
    return f"nobody approved or denied it before its approval deadline, {_utc(expires_at)}"


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
