"""The tool execution aggregate: a request, policy's decision (perhaps a person's approval), then one outcome."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.decider import Decider
from domain.errors import NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.tool.commands import (
    AllowTool,
    ApproveTool,
    AskApproval,
    CompleteTool,
    DenyTool,
    ExpireApproval,
    FailTool,
    RequestTool,
    TimeOutTool,
)
from domain.tool.errors import (
    ApprovalDeadlinePassed,
    ApprovalNotDue,
    ToolAlreadyDecided,
    ToolAlreadyRequested,
    ToolNotAwaitingApproval,
    ToolOutcomeAlreadyRecorded,
    nobody_decided,
)
from domain.tool.events import (
    ToolAllowed,
    ToolApprovalRequested,
    ToolApproved,
    ToolCompleted,
    ToolDenied,
    ToolFailed,
    ToolRequested,
)
from domain.validation import require_at_least, require_json, require_text

STREAM_TYPE = "tool"


class ToolOutcome(StrEnum):
    """How an execution ended."""

    DENIED = "denied"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class ToolDecision(StrEnum):
    """What was decided before the call may run: allowed by policy, or awaiting then given a person's approval."""

    ALLOWED = "allowed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"


@dataclass(frozen=True, kw_only=True)
class ToolExecution:
    """An execution's state: what was asked, the decision and the outcome (None while pending), events folded."""

    request_id: UUID
    tool_name: str
    arguments_json: str = "{}"
    session_id: UUID | None = None
    timeout_ms: int = 30_000
    decision: ToolDecision | None = None
    approval_expires_at: datetime | None = None  # when a call awaiting a person ends timed out (None: never)
    outcome: ToolOutcome | None = None
    version: int = 0

    @property
    def may_run(self) -> bool:
        """Allowed by policy or approved by a person, and not ended yet."""
        return self.outcome is None and self.decision in (ToolDecision.ALLOWED, ToolDecision.APPROVED)

    def approval_due(self, at: datetime) -> bool:
        """Awaiting a person's approval, and its deadline has come at `at`: it is to end timed out."""
        awaiting = self.outcome is None and self.decision is ToolDecision.AWAITING_APPROVAL
        return awaiting and self.approval_expires_at is not None and at >= self.approval_expires_at

    @property
    def status(self) -> str:
        """requested, running, awaiting_approval, or the outcome (the tools view's words)."""
        if self.outcome is not None:
            return self.outcome.value
        if self.decision is ToolDecision.AWAITING_APPROVAL:
            return "awaiting_approval"
        return "requested" if self.decision is None else "running"


def stream_id(request_id: UUID) -> str:
    """The id of a tool execution's stream."""
    return str(request_id)


def evolve(state: ToolExecution | None, event: DomainEvent) -> ToolExecution:
    """The state after one more event."""
    match state, event:
        case None, ToolRequested():
            return ToolExecution(
                request_id=event.request_id,
                tool_name=event.tool_name,
                arguments_json=event.arguments_json,
                session_id=event.session_id,
                timeout_ms=event.timeout_ms,
                version=1,
            )
        case ToolExecution(outcome=None, decision=None), ToolAllowed():
            return replace(state, decision=ToolDecision.ALLOWED, version=state.version + 1)
        case ToolExecution(outcome=None, decision=None), ToolApprovalRequested():
            decision, expires_at = ToolDecision.AWAITING_APPROVAL, event.expires_at
            return replace(state, decision=decision, approval_expires_at=expires_at, version=state.version + 1)
        case ToolExecution(outcome=None, decision=ToolDecision.AWAITING_APPROVAL), ToolApproved():
            return replace(state, decision=ToolDecision.APPROVED, version=state.version + 1)
        case ToolExecution(outcome=None), ToolDenied() | ToolCompleted() | ToolFailed():
            return replace(state, outcome=_outcome_of(event), version=state.version + 1)
    raise UnexpectedEvent(STREAM_TYPE, event.type_name(), state.version if state else 0)


def _outcome_of(event: DomainEvent) -> ToolOutcome:
    if isinstance(event, ToolDenied):
        return ToolOutcome.DENIED
    if isinstance(event, ToolCompleted):
        return ToolOutcome.COMPLETED
    return ToolOutcome.TIMED_OUT if isinstance(event, ToolFailed) and event.timed_out else ToolOutcome.FAILED


DECIDER = Decider(stream_type=STREAM_TYPE, evolve=evolve, state_type=ToolExecution)


def request(state: ToolExecution | None, command: RequestTool) -> list[DomainEvent]:
    """Request a tool call: a non-blank name, a positive timeout and JSON arguments."""
    if state is not None:
        raise ToolAlreadyRequested(command.request_id)
    return [
        ToolRequested(
            request_id=command.request_id,
            tool_name=require_text("tool_name", command.tool_name),
            arguments_json=require_json("arguments_json", command.arguments_json),
            session_id=command.session_id,
            timeout_ms=require_at_least("timeout_ms", command.timeout_ms, 1),
        )
    ]


def allow(state: ToolExecution | None, command: AllowTool) -> list[DomainEvent]:
    """Record that policy allowed the call (once, before any outcome), with a non-blank reason and policy."""
    pending = _undecided(state, command.request_id)
    reason, policy = require_text("reason", command.reason), require_text("policy", command.policy)
    return [ToolAllowed(request_id=pending.request_id, tool_name=pending.tool_name, reason=reason, policy=policy)]


def ask_approval(state: ToolExecution | None, command: AskApproval) -> list[DomainEvent]:
    """Record that policy wants a person's approval (once, before any outcome): the call waits for it until
    its deadline, `expires_at` (see expire_approval)."""
    pending = _undecided(state, command.request_id)
    reason, policy = require_text("reason", command.reason), require_text("policy", command.policy)
    return [
        ToolApprovalRequested(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            reason=reason,
            policy=policy,
            expires_at=command.expires_at,
        )
    ]


def approve(state: ToolExecution | None, command: ApproveTool) -> list[DomainEvent]:
    """Record a person's approval (`approved_by` non-blank) of a call that awaits it, made before its deadline."""
    waiting = _awaiting_approval(state, command.request_id, command.decided_at)
    return [
        ToolApproved(
            request_id=waiting.request_id,
            tool_name=waiting.tool_name,
            approved_by=require_text("approved_by", command.approved_by),
            note=command.note.strip(),
        )
    ]


def deny(state: ToolExecution | None, command: DenyTool) -> list[DomainEvent]:
    """Record that policy refused the call (before it decided anything else), or that a person did
    (`denied_by`; the call must await approval); reason and policy must be non-blank."""
    if command.denied_by is None:
        pending = _undecided(state, command.request_id)
    else:
        pending = _awaiting_approval(state, command.request_id, command.decided_at)
    return [
        ToolDenied(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            reason=require_text("reason", command.reason),
            policy=require_text("policy", command.policy),
            denied_by=None if command.denied_by is None else require_text("denied_by", command.denied_by),
        )
    ]


def complete(state: ToolExecution | None, command: CompleteTool) -> list[DomainEvent]:
    """Record the call's JSON result and how long it took (ms, not negative)."""
    pending = _pending(state, command.request_id)
    return [
        ToolCompleted(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            result_json=require_json("result_json", command.result_json),
            duration_ms=require_at_least("duration_ms", command.duration_ms, 0),
        )
    ]


def fail(state: ToolExecution | None, command: FailTool) -> list[DomainEvent]:
    """Record that the call failed with a non-blank error (not a timeout: see time_out)."""
    pending = _pending(state, command.request_id)
    return [
        ToolFailed(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            error=require_text("error", command.error),
            timed_out=False,
            duration_ms=require_at_least("duration_ms", command.duration_ms, 0),
        )
    ]


def time_out(state: ToolExecution | None, command: TimeOutTool) -> list[DomainEvent]:
    """Record that the call ran out of time: a failure with error "timed out after N ms" (N: the timeout)."""
    pending = _pending(state, command.request_id)
    duration = pending.timeout_ms if command.duration_ms is None else command.duration_ms
    return [
        ToolFailed(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            error=f"timed out after {pending.timeout_ms} ms",
            timed_out=True,
            duration_ms=require_at_least("duration_ms", duration, 0),
        )
    ]


def expire_approval(state: ToolExecution | None, command: ExpireApproval) -> list[DomainEvent]:
    """End a call nobody approved or denied by its approval deadline: timed out (a ToolFailed with `timed_out`
    and an error saying nobody decided in time; it never ran). Refused with ApprovalNotDue before the
    deadline or when it has none, and with ToolNotAwaitingApproval once a person decided or it ended."""
    waiting = _awaiting_approval(state, command.request_id)
    expires_at = waiting.approval_expires_at
    if expires_at is None or not waiting.approval_due(command.at):
        raise ApprovalNotDue(waiting.request_id, expires_at)
    return [
        ToolFailed(
            request_id=waiting.request_id,
            tool_name=waiting.tool_name,
            error=nobody_decided(expires_at),
            timed_out=True,
            duration_ms=0,
        )
    ]


def _pending(state: ToolExecution | None, request_id: UUID) -> ToolExecution:
    """The execution, if it was requested and has no outcome yet."""
    if state is None:
        raise NotFound(STREAM_TYPE, stream_id(request_id))
    if state.outcome is not None:
        raise ToolOutcomeAlreadyRecorded(request_id, state.outcome.value)
    return state


def _undecided(state: ToolExecution | None, request_id: UUID) -> ToolExecution:
    """The pending execution, if policy has not decided on it yet."""
    pending = _pending(state, request_id)
    if pending.decision is not None:
        raise ToolAlreadyDecided(request_id, pending.decision.value)
    return pending


def _awaiting_approval(
    state: ToolExecution | None, request_id: UUID, decided_at: datetime | None = None
) -> ToolExecution:
    """The execution, if it waits for a person's decision (and, with `decided_at`, its deadline has not passed)."""
    if state is None:
        raise NotFound(STREAM_TYPE, stream_id(request_id))
    if state.outcome is not None or state.decision is not ToolDecision.AWAITING_APPROVAL:
        raise ToolNotAwaitingApproval(request_id, state.status)
    if decided_at is not None and state.approval_expires_at is not None and state.approval_due(decided_at):
        raise ApprovalDeadlinePassed(request_id, state.approval_expires_at)
    return state
