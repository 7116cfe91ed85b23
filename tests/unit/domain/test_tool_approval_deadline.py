"""The approval deadline of a tool execution: recorded when policy asks a person, enforced as a timed-out outcome
once it passed, and a person's decision at or after it refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.convert import from_plain, to_plain
from domain.errors import StateConflict
from domain.events import DomainEvent
from domain.tool import aggregate as tool
from domain.tool.commands import ApproveTool, AskApproval, DenyTool, ExpireApproval
from domain.tool.errors import ApprovalDeadlinePassed, ApprovalNotDue, ToolNotAwaitingApproval
from domain.tool.events import ToolApprovalRequested, ToolApproved, ToolDenied, ToolFailed, ToolRequested

DEADLINE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def rid() -> uuid.UUID:
    return uuid.uuid4()


def given(*events: DomainEvent) -> tool.ToolExecution | None:
    return tool.DECIDER.fold(events)


def requested(rid: uuid.UUID) -> ToolRequested:
    return ToolRequested(request_id=rid, tool_name="echo", arguments_json='{"text": "hi"}')


def asked(rid: uuid.UUID, expires_at: datetime | None = DEADLINE) -> ToolApprovalRequested:
    return ToolApprovalRequested(request_id=rid, tool_name="echo", reason="risky", policy="p", expires_at=expires_at)


def expire(state: tool.ToolExecution | None, rid: uuid.UUID, at: datetime) -> list[DomainEvent]:
    return tool.expire_approval(state, ExpireApproval(request_id=rid, at=at))


def test_asking_a_person_records_the_deadline_and_the_call_is_due_from_it_on(rid):
    events = tool.ask_approval(
        given(requested(rid)), AskApproval(request_id=rid, reason="risky", policy="p", expires_at=DEADLINE)
    )
    assert events == [asked(rid)]
    waiting = given(requested(rid), *events)
    assert waiting is not None and waiting.approval_expires_at == DEADLINE
    assert not waiting.approval_due(DEADLINE - SECOND)
    assert waiting.approval_due(DEADLINE) and waiting.approval_due(DEADLINE + SECOND)


def test_past_its_deadline_a_call_nobody_decided_on_ends_timed_out_saying_nobody_decided_in_time(rid):
    events = expire(given(requested(rid), asked(rid)), rid, DEADLINE + SECOND)

    assert events == [
        ToolFailed(
            request_id=rid,
            tool_name="echo",
            error="nobody approved or denied it before its approval deadline, 2026-03-04 05:06:07 UTC",
            timed_out=True,
            duration_ms=0,
        )
    ]
    ended = given(requested(rid), asked(rid), *events)
    assert ended is not None
    assert (ended.outcome, ended.status, ended.may_run) == (tool.ToolOutcome.TIMED_OUT, "timed_out", False)
    assert not ended.approval_due(DEADLINE + SECOND)


def test_before_its_deadline_or_without_one_a_waiting_call_is_not_ended(rid):
    with pytest.raises(ApprovalNotDue, match="its approval deadline is 2026-03-04 05:06:07 UTC"):
        expire(given(requested(rid), asked(rid)), rid, DEADLINE - SECOND)
    with pytest.raises(ApprovalNotDue, match="no approval deadline"):
        expire(given(requested(rid), asked(rid, None)), rid, DEADLINE + timedelta(days=365))
    assert not given(requested(rid), asked(rid, None)).approval_due(DEADLINE)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "decided",
    [
        ToolApproved(request_id=uuid.UUID(int=1), tool_name="echo", approved_by="key:a"),
        ToolDenied(request_id=uuid.UUID(int=1), tool_name="echo", reason="no", policy="human approval", denied_by="k"),
        ToolFailed(request_id=uuid.UUID(int=1), tool_name="echo", error="e", timed_out=True, duration_ms=0),
    ],
)
def test_a_call_a_person_decided_on_or_that_ended_is_not_ended_again(decided):
    rid = decided.request_id
    with pytest.raises(ToolNotAwaitingApproval):
        expire(given(requested(rid), asked(rid), decided), rid, DEADLINE + SECOND)


def test_a_persons_decision_before_the_deadline_counts_and_one_at_or_after_it_is_refused(rid):
    waiting = given(requested(rid), asked(rid))
    on_time = tool.approve(waiting, ApproveTool(request_id=rid, approved_by="key:a", decided_at=DEADLINE - SECOND))
    assert [type(e) for e in on_time] == [ToolApproved]

    late_approval = ApproveTool(request_id=rid, approved_by="key:a", decided_at=DEADLINE)
    with pytest.raises(ApprovalDeadlinePassed) as refused:
        tool.approve(waiting, late_approval)
    assert isinstance(refused.value, StateConflict)  # the API's 409
    assert refused.value.reason == (
        "too late: nobody approved or denied it before its approval deadline, 2026-03-04 05:06:07 UTC; "
        "it ends timed_out"
    )
    late_denial = DenyTool(request_id=rid, reason="no", policy="human approval", denied_by="k", decided_at=DEADLINE)
    with pytest.raises(ApprovalDeadlinePassed):
        tool.deny(waiting, late_denial)


def test_once_timed_out_an_approval_is_refused_as_not_awaiting_approval(rid):
    ended = given(requested(rid), asked(rid), *expire(given(requested(rid), asked(rid)), rid, DEADLINE))
    with pytest.raises(ToolNotAwaitingApproval, match=r"not awaiting approval \(it is timed_out\)"):
        tool.approve(ended, ApproveTool(request_id=rid, approved_by="key:a", decided_at=DEADLINE - SECOND))


def test_the_deadline_survives_a_snapshot_of_the_state(rid):
    waiting = given(requested(rid), asked(rid))
    stored = json.loads(json.dumps(to_plain(waiting), default=str))  # as the event store keeps snapshots
    assert from_plain(tool.ToolExecution, stored) == waiting
