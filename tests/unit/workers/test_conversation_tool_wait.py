"""How long the conversation waits for a tool call's outcome: a call a person decides on is waited for until the
approval deadline recorded with it, plus the call's run; the others for their timeout plus the grace."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.tool.aggregate import ToolDecision, ToolExecution
from workers.conversation.tools import wait_for

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CALL = ToolExecution(request_id=uuid.uuid4(), tool_name="echo", timeout_ms=2000)


def test_a_call_a_person_decides_on_is_waited_for_until_its_deadline_then_its_run():
    wait = wait_for(1000, grace=3, approval_wait=120, now=lambda: NOW)
    awaiting = replace(CALL, decision=ToolDecision.AWAITING_APPROVAL, approval_expires_at=NOW + timedelta(seconds=3600))
    assert wait(awaiting) == 3600 + 2 + 3
    assert wait(replace(awaiting, decision=ToolDecision.APPROVED)) == 3600 + 2 + 3  # approved at the last moment


def test_other_calls_are_waited_for_their_timeout_and_the_grace_and_one_without_a_deadline_the_approval_wait():
    wait = wait_for(1000, grace=3, approval_wait=120, now=lambda: NOW)
    assert wait(replace(CALL, decision=ToolDecision.ALLOWED)) == 2 + 3
    assert wait(replace(CALL, decision=None, timeout_ms=500)) == 1 + 3  # at least the conversation's own timeout
    assert wait(replace(CALL, decision=ToolDecision.AWAITING_APPROVAL)) == 120
