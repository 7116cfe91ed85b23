"""Policy's decision on a tool execution and a person's approval: once each, in order, before the one outcome."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import InvalidCommand, NotFound, StateConflict, UnexpectedEvent
from domain.events import DomainEvent
from domain.tool import aggregate as tool
from domain.tool.commands import AllowTool, ApproveTool, AskApproval, CompleteTool, DenyTool
from domain.tool.errors import ToolAlreadyDecided, ToolNotAwaitingApproval, ToolOutcomeAlreadyRecorded
from domain.tool.events import (
    ToolAllowed,
    ToolApprovalRequested,
    ToolApproved,
    ToolCompleted,
    ToolDenied,
    ToolRequested,
)


@pytest.fixture
def rid() -> uuid.UUID:
    return uuid.uuid4()


def given(*events: DomainEvent) -> tool.ToolExecution | None:
    return tool.DECIDER.fold(events)


def requested(rid: uuid.UUID) -> ToolRequested:
    return ToolRequested(request_id=rid, tool_name="http_fetch", arguments_json='{"url": "https://x"}')


def allowed(rid: uuid.UUID) -> ToolAllowed:
    return ToolAllowed(request_id=rid, tool_name="http_fetch", reason="listed", policy="rego:default.rego")


def asked(rid: uuid.UUID) -> ToolApprovalRequested:
    return ToolApprovalRequested(request_id=rid, tool_name="http_fetch", reason="risky", policy="rego:default.rego")


def approved(rid: uuid.UUID) -> ToolApproved:
    return ToolApproved(request_id=rid, tool_name="http_fetch", approved_by="key:abc")


def test_an_allowed_call_may_run_and_says_so(rid):
    events = tool.allow(given(requested(rid)), AllowTool(request_id=rid, reason="listed", policy="rego:default.rego"))
    assert events == [allowed(rid)]
    state = given(requested(rid), *events)
    assert state is not None
    assert (state.decision, state.may_run, state.status) == (tool.ToolDecision.ALLOWED, True, "running")
    assert state.arguments_json == '{"url": "https://x"}'


def test_a_call_awaiting_approval_may_not_run_until_approved(rid):
    events = tool.ask_approval(given(requested(rid)), AskApproval(request_id=rid, reason="risky", policy="p"))
    waiting = given(requested(rid), *events)
    assert waiting is not None
    assert (waiting.status, waiting.may_run) == ("awaiting_approval", False)

    approval = tool.approve(waiting, ApproveTool(request_id=rid, approved_by="key:abc", note="  ok  "))
    assert approval == [ToolApproved(request_id=rid, tool_name="http_fetch", approved_by="key:abc", note="ok")]
    running = given(requested(rid), *events, *approval)
    assert running is not None
    assert (running.decision, running.may_run, running.status) == (tool.ToolDecision.APPROVED, True, "running")


def test_a_person_denies_a_call_awaiting_approval_naming_themselves(rid):
    command = DenyTool(request_id=rid, reason="not today", policy="human approval", denied_by="jwt:ann")
    events = tool.deny(given(requested(rid), asked(rid)), command)
    assert events == [
        ToolDenied(
            request_id=rid, tool_name="http_fetch", reason="not today", policy="human approval", denied_by="jwt:ann"
        )
    ]
    state = given(requested(rid), asked(rid), *events)
    assert state is not None
    assert state.outcome is tool.ToolOutcome.DENIED


@pytest.mark.parametrize(
    ("history", "status"),
    [
        (lambda rid: [requested(rid)], "requested"),
        (lambda rid: [requested(rid), allowed(rid)], "running"),
        (lambda rid: [requested(rid), asked(rid), approved(rid)], "running"),
        (
            lambda rid: [
                requested(rid),
                allowed(rid),
                ToolCompleted(request_id=rid, tool_name="http_fetch", result_json="{}", duration_ms=1),
            ],
            "completed",
        ),
    ],
    ids=["undecided", "allowed", "approved", "completed"],
)
@pytest.mark.parametrize(
    "decide",
    [
        lambda s, rid: tool.approve(s, ApproveTool(request_id=rid, approved_by="key:abc")),
        lambda s, rid: tool.deny(s, DenyTool(request_id=rid, reason="no", policy="human approval", denied_by="k")),
    ],
    ids=["approve", "deny"],
)
def test_only_a_call_awaiting_approval_can_be_approved_or_denied_by_a_person(rid, history, status, decide):
    state = given(*history(rid))
    with pytest.raises(ToolNotAwaitingApproval) as raised:
        decide(state, rid)
    assert isinstance(raised.value, StateConflict)
    assert raised.value.status == status


@pytest.mark.parametrize("decided", [allowed, asked], ids=["allowed", "awaiting"])
@pytest.mark.parametrize(
    "decide",
    [
        lambda s, rid: tool.allow(s, AllowTool(request_id=rid, reason="r", policy="p")),
        lambda s, rid: tool.ask_approval(s, AskApproval(request_id=rid, reason="r", policy="p")),
        lambda s, rid: tool.deny(s, DenyTool(request_id=rid, reason="r", policy="p")),
    ],
    ids=["allow", "ask", "policy-deny"],
)
def test_policy_decides_once(rid, decided, decide):
    with pytest.raises(ToolAlreadyDecided):
        decide(given(requested(rid), decided(rid)), rid)


def test_a_decision_after_the_outcome_names_the_outcome(rid):
    done = ToolCompleted(request_id=rid, tool_name="http_fetch", result_json="{}", duration_ms=1)
    with pytest.raises(ToolOutcomeAlreadyRecorded):
        tool.allow(given(requested(rid), done), AllowTool(request_id=rid, reason="r", policy="p"))


@pytest.mark.parametrize(
    ("decide", "field"),
    [
        (lambda s, rid: tool.allow(s, AllowTool(request_id=rid, reason=" ", policy="p")), "reason"),
        (lambda s, rid: tool.ask_approval(s, AskApproval(request_id=rid, reason="r", policy="")), "policy"),
    ],
)
def test_a_decision_needs_a_reason_and_a_policy(rid, decide, field):
    with pytest.raises(InvalidCommand) as raised:
        decide(given(requested(rid)), rid)
    assert raised.value.field == field


def test_an_approval_needs_the_approver(rid):
    with pytest.raises(InvalidCommand) as raised:
        tool.approve(given(requested(rid), asked(rid)), ApproveTool(request_id=rid, approved_by=" "))
    assert raised.value.field == "approved_by"


def test_approving_an_unknown_execution_is_not_found(rid):
    with pytest.raises(NotFound):
        tool.approve(given(), ApproveTool(request_id=rid, approved_by="key:abc"))


def test_an_outcome_can_follow_an_approval_and_events_out_of_order_are_a_corrupted_stream(rid):
    done = tool.complete(
        given(requested(rid), asked(rid), approved(rid)), CompleteTool(request_id=rid, result_json="1", duration_ms=2)
    )
    assert isinstance(done[0], ToolCompleted)
    with pytest.raises(UnexpectedEvent):
        given(requested(rid), approved(rid))
    with pytest.raises(UnexpectedEvent):
        given(requested(rid), allowed(rid), asked(rid))
