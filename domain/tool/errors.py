"""Errors of a tool execution."""

from __future__ import annotations

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
