"""The tools view: each tool execution's status and outcome, and a session's executions by request time."""

from __future__ import annotations

import uuid

from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, millis, recorded


def folded(*events) -> Folded:
    return Folded(VIEWS["tools"], Keys("p:", "tools")).fold(events)


def requested(request: uuid.UUID, session: uuid.UUID | None = None, minute: int = 0) -> object:
    event = ToolRequested(request_id=request, tool_name="search", arguments_json='{"q":1}', session_id=session)
    return recorded(event, request, 1, minute=minute)


def test_a_completed_execution_shows_its_request_and_its_result():
    request, session = uuid.uuid4(), uuid.uuid4()
    done = recorded(ToolCompleted(request_id=request, tool_name="search", result_json="[]", duration_ms=7), request, 2)

    assert folded(requested(request, session), done)("execution", request) == {
        "_version": "2",
        "tool_name": "search",
        "arguments_json": '{"q":1}',
        "session_id": str(session),
        "tenant_id": "acme",
        "status": "completed",
        "result_json": "[]",
        "duration_ms": "7",
    }


def test_the_outcome_stands_whichever_topic_delivers_first():
    request = uuid.uuid4()
    failed = ToolFailed(request_id=request, tool_name="search", error="slow", timed_out=True, duration_ms=30000)
    events = [requested(request), recorded(failed, request, 2)]

    view = folded(*reversed(events))
    assert view.state == folded(*events).state
    assert view("execution", request)["status"] == "timed_out"
    assert view("execution", request)["error"] == "slow"


def test_a_denial_is_recorded_with_its_policy():
    request = uuid.uuid4()
    denied = recorded(ToolDenied(request_id=request, tool_name="search", reason="no", policy="p1"), request, 2)

    execution = folded(requested(request), denied)("execution", request)
    assert (execution["status"], execution["reason"], execution["policy"]) == ("denied", "no", "p1")


def test_a_sessions_executions_are_listed_by_request_time_and_unattached_ones_nowhere():
    session, first, second, alone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    view = folded(requested(second, session, 5), requested(first, session, 1), requested(alone))

    assert view("by-session", session) == {str(first): millis(1), str(second): millis(5)}
    assert view("execution", alone)["session_id"] == ""
    assert [key for key in view.state if ":by-session:" in key] == [view.keys("by-session", session)]
