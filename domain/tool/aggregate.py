"""The tool execution aggregate: a request, then exactly one outcome."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from domain.decider import Decider
from domain.errors import NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.tool.commands import CompleteTool, DenyTool, FailTool, RequestTool, TimeOutTool
from domain.tool.errors import ToolAlreadyRequested, ToolOutcomeAlreadyRecorded
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from domain.validation import require_at_least, require_json, require_text

STREAM_TYPE = "tool"


class ToolOutcome(StrEnum):
    """How an execution ended."""

    DENIED = "denied"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True, kw_only=True)
class ToolExecution:
    """An execution's state: what was asked, its outcome (None while pending), events folded."""

    request_id: UUID
    tool_name: str
    session_id: UUID | None = None
    timeout_ms: int = 30_000
    outcome: ToolOutcome | None = None
    version: int = 0


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
                session_id=event.session_id,
                timeout_ms=event.timeout_ms,
                version=1,
            )
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


def deny(state: ToolExecution | None, command: DenyTool) -> list[DomainEvent]:
    """Record that policy refused the call; both reason and policy must be non-blank."""
    pending = _pending(state, command.request_id)
    return [
        ToolDenied(
            request_id=pending.request_id,
            tool_name=pending.tool_name,
            reason=require_text("reason", command.reason),
            policy=require_text("policy", command.policy),
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


def _pending(state: ToolExecution | None, request_id: UUID) -> ToolExecution:
    """The execution, if it was requested and has no outcome yet."""
    if state is None:
        raise NotFound(STREAM_TYPE, stream_id(request_id))
    if state.outcome is not None:
        raise ToolOutcomeAlreadyRecorded(request_id, state.outcome.value)
    return state
