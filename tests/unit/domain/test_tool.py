"""Tool execution decisions: a valid request, then exactly one outcome."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import InvalidCommand, NotFound, StateConflict, UnexpectedEvent
from domain.events import DomainEvent
from domain.tool import aggregate as tool
from domain.tool.commands import CompleteTool, DenyTool, FailTool, RequestTool, TimeOutTool
from domain.tool.errors import ToolAlreadyRequested, ToolOutcomeAlreadyRecorded
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested


@pytest.fixture
def rid() -> uuid.UUID:
    return uuid.uuid4()


def given(*events: DomainEvent) -> tool.ToolExecution | None:
    return tool.DECIDER.fold(events)


def requested(rid: uuid.UUID, timeout_ms: int = 5_000) -> ToolRequested:
    return ToolRequested(request_id=rid, tool_name="search", arguments_json='{"q": "x"}', timeout_ms=timeout_ms)


def denied(rid: uuid.UUID) -> ToolDenied:
    return ToolDenied(request_id=rid, tool_name="search", reason="no", policy="p1")


def completed(rid: uuid.UUID) -> ToolCompleted:
    return ToolCompleted(request_id=rid, tool_name="search", result_json="[]", duration_ms=5)


def failed(rid: uuid.UUID, timed_out: bool = False) -> ToolFailed:
    return ToolFailed(request_id=rid, tool_name="search", error="boom", timed_out=timed_out, duration_ms=5)


def test_a_request_is_recorded_with_its_arguments_session_and_timeout(rid):
    session_id = uuid.uuid4()
    command = RequestTool(
        request_id=rid, tool_name="search", arguments_json='{"q": "x"}', session_id=session_id, timeout_ms=5_000
    )
    events = tool.request(given(), command)
    assert events == [
        ToolRequested(
            request_id=rid, tool_name="search", arguments_json='{"q": "x"}', session_id=session_id, timeout_ms=5_000
        )
    ]
    state = given(*events)
    assert state == tool.ToolExecution(
        request_id=rid,
        tool_name="search",
        arguments_json='{"q": "x"}',
        session_id=session_id,
        timeout_ms=5_000,
        version=1,
    )


def test_requesting_the_same_id_twice_is_a_conflict(rid):
    with pytest.raises(ToolAlreadyRequested) as raised:
        tool.request(given(requested(rid)), RequestTool(request_id=rid, tool_name="search", arguments_json="{}"))
    assert isinstance(raised.value, StateConflict)
    assert raised.value.request_id == rid


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tool_name": ""}, "tool_name"),
        ({"tool_name": "  "}, "tool_name"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": -1}, "timeout_ms"),
        ({"arguments_json": "{not json"}, "arguments_json"),
        ({"arguments_json": ""}, "arguments_json"),
    ],
)
def test_an_invalid_request_names_the_field(rid, changes, field):
    values = {"request_id": rid, "tool_name": "search", "arguments_json": "{}", **changes}
    with pytest.raises(InvalidCommand) as raised:
        tool.request(given(), RequestTool(**values))
    assert raised.value.field == field


@pytest.mark.parametrize("arguments", ["{}", "[1, 2]", '"text"', "null", "3"])
def test_any_json_value_is_acceptable_arguments(rid, arguments):
    assert tool.request(given(), RequestTool(request_id=rid, tool_name="t", arguments_json=arguments))


def test_a_denial_records_reason_and_policy(rid):
    events = tool.deny(given(requested(rid)), DenyTool(request_id=rid, reason="no", policy="p1"))
    assert events == [denied(rid)]


def test_a_completion_records_the_result_and_duration(rid):
    events = tool.complete(given(requested(rid)), CompleteTool(request_id=rid, result_json="[]", duration_ms=5))
    assert events == [completed(rid)]


def test_a_failure_is_not_a_timeout(rid):
    events = tool.fail(given(requested(rid)), FailTool(request_id=rid, error="boom", duration_ms=5))
    assert events == [failed(rid)]


def test_a_timeout_is_a_failure_naming_the_timeout(rid):
    events = tool.time_out(given(requested(rid, timeout_ms=1_500)), TimeOutTool(request_id=rid))
    assert events == [
        ToolFailed(
            request_id=rid, tool_name="search", error="timed out after 1500 ms", timed_out=True, duration_ms=1_500
        )
    ]


def test_a_timeout_may_report_the_time_actually_waited(rid):
    events = tool.time_out(given(requested(rid, timeout_ms=1_500)), TimeOutTool(request_id=rid, duration_ms=1_503))
    assert isinstance(events[0], ToolFailed)
    assert (events[0].error, events[0].duration_ms) == ("timed out after 1500 ms", 1_503)


@pytest.mark.parametrize(
    ("decide", "field"),
    [
        (lambda s, rid: tool.deny(s, DenyTool(request_id=rid, reason=" ", policy="p")), "reason"),
        (lambda s, rid: tool.deny(s, DenyTool(request_id=rid, reason="r", policy="")), "policy"),
        (lambda s, rid: tool.complete(s, CompleteTool(request_id=rid, result_json="{", duration_ms=1)), "result_json"),
        (lambda s, rid: tool.complete(s, CompleteTool(request_id=rid, result_json="1", duration_ms=-1)), "duration_ms"),
        (lambda s, rid: tool.fail(s, FailTool(request_id=rid, error="", duration_ms=1)), "error"),
        (lambda s, rid: tool.fail(s, FailTool(request_id=rid, error="e", duration_ms=-1)), "duration_ms"),
        (lambda s, rid: tool.time_out(s, TimeOutTool(request_id=rid, duration_ms=-1)), "duration_ms"),
    ],
    ids=["deny-reason", "deny-policy", "complete-json", "complete-duration", "fail-error", "fail-duration", "timeout"],
)
def test_an_invalid_outcome_names_the_field(rid, decide, field):
    with pytest.raises(InvalidCommand) as raised:
        decide(given(requested(rid)), rid)
    assert raised.value.field == field


OUTCOME_COMMANDS = [
    lambda s, rid: tool.deny(s, DenyTool(request_id=rid, reason="r", policy="p")),
    lambda s, rid: tool.complete(s, CompleteTool(request_id=rid, result_json="1", duration_ms=1)),
    lambda s, rid: tool.fail(s, FailTool(request_id=rid, error="e", duration_ms=1)),
    lambda s, rid: tool.time_out(s, TimeOutTool(request_id=rid)),
]
OUTCOME_IDS = ["deny", "complete", "fail", "time_out"]


@pytest.mark.parametrize(
    ("recorded", "outcome"),
    [(denied, "denied"), (completed, "completed"), (failed, "failed"), (lambda rid: failed(rid, True), "timed_out")],
    ids=OUTCOME_IDS,
)
@pytest.mark.parametrize("decide", OUTCOME_COMMANDS, ids=OUTCOME_IDS)
def test_a_second_outcome_is_refused_naming_the_first(rid, recorded, outcome, decide):
    with pytest.raises(ToolOutcomeAlreadyRecorded) as raised:
        decide(given(requested(rid), recorded(rid)), rid)
    assert (raised.value.request_id, raised.value.outcome) == (rid, outcome)
    assert isinstance(raised.value, StateConflict)


@pytest.mark.parametrize("decide", OUTCOME_COMMANDS, ids=OUTCOME_IDS)
def test_an_outcome_for_an_unknown_request_is_not_found(rid, decide):
    with pytest.raises(NotFound) as raised:
        decide(given(), rid)
    assert (raised.value.stream_type, raised.value.stream_id) == ("tool", str(rid))


def test_the_state_knows_the_outcome(rid):
    timed_out, refused = given(requested(rid), failed(rid, timed_out=True)), given(requested(rid), denied(rid))
    assert timed_out is not None
    assert refused is not None
    assert (timed_out.outcome, refused.outcome) == (tool.ToolOutcome.TIMED_OUT, tool.ToolOutcome.DENIED)


def test_an_outcome_after_an_outcome_is_a_corrupted_stream(rid):
    with pytest.raises(UnexpectedEvent):
        given(requested(rid), completed(rid), failed(rid))
    with pytest.raises(UnexpectedEvent):
        given(completed(rid))


def test_folding_every_event_counts_them_in_the_version(rid):
    events = [requested(rid), completed(rid)]
    state = tool.DECIDER.fold(events)
    assert state is not None
    assert state.version == len(events)
    assert tool.DECIDER.stream_type == "tool"
    assert tool.stream_id(rid) == str(rid)
