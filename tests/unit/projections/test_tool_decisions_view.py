"""The tools view shows policy's decision and a person's approval beside the status, in any delivery order."""

from __future__ import annotations

import itertools
import uuid

import pytest

from domain.events import DomainEvent
from domain.tool.events import ToolAllowed, ToolApprovalRequested, ToolApproved, ToolCompleted, ToolDenied
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, recorded
from tests.unit.projections.test_tools import requested


def folded(*events) -> Folded:
    return Folded(VIEWS["tools"], Keys("p:", "tools")).fold(events)


def test_an_allowed_call_is_running_with_its_decision_then_completed():
    rid = uuid.uuid4()
    allowed = recorded(ToolAllowed(request_id=rid, tool_name="search", reason="listed", policy="rego:a.rego"), rid, 2)
    done = recorded(ToolCompleted(request_id=rid, tool_name="search", result_json="4", duration_ms=3), rid, 3)

    running = folded(requested(rid), allowed)("execution", rid)
    assert (running["status"], running["decision"], running["decision_reason"], running["decision_policy"]) == (
        "running",
        "allow",
        "listed",
        "rego:a.rego",
    )
    assert folded(requested(rid), allowed, done)("execution", rid)["status"] == "completed"


def approval_flow(rid: uuid.UUID, answer: DomainEvent | None) -> list:
    asked = ToolApprovalRequested(request_id=rid, tool_name="search", reason="risky", policy="rego:a.rego")
    flow = [requested(rid), recorded(asked, rid, 2)]
    return [*flow, recorded(answer, rid, 3)] if answer else flow


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_an_approved_call_shows_who_approved_it_whatever_the_order(order):
    rid = uuid.uuid4()
    events = approval_flow(rid, ToolApproved(request_id=rid, tool_name="search", approved_by="key:k1", note="fine"))
    execution = folded(*(events[i] for i in order))("execution", rid)
    assert execution["status"] == "running"
    assert (execution["decision"], execution["decision_reason"]) == ("approve", "risky")
    assert (execution["approver"], execution["approval_note"]) == ("key:k1", "fine")


def test_a_call_awaiting_approval_says_so():
    rid = uuid.uuid4()
    assert folded(*approval_flow(rid, None)[:2])("execution", rid)["status"] == "awaiting_approval"


def test_a_person_denial_names_them_and_a_policy_denial_is_the_decision():
    by_person, by_policy = uuid.uuid4(), uuid.uuid4()
    refused = ToolDenied(
        request_id=by_person, tool_name="search", reason="no", policy="human approval", denied_by="jwt:ann"
    )
    person = folded(*approval_flow(by_person, refused))("execution", by_person)
    assert (person["status"], person["approver"], person["approval_note"], person["denied_by"]) == (
        "denied",
        "jwt:ann",
        "no",
        "jwt:ann",
    )
    assert person["decision"] == "approve"

    policy_denial = ToolDenied(request_id=by_policy, tool_name="search", reason="not listed", policy="rego:a.rego")
    policy = folded(requested(by_policy), recorded(policy_denial, by_policy, 2))("execution", by_policy)
    assert (policy["status"], policy["decision"], policy["decision_reason"], policy["reason"]) == (
        "denied",
        "deny",
        "not listed",
        "not listed",
    )
    assert "denied_by" not in policy
