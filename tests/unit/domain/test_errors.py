"""Every domain error carries the data that explains it and the sentence a client reads.

api/errors.py answers a StateConflict with its `reason` and a NotFound or BudgetExhausted with its
message as the problem+json `detail`, so these strings are what a user sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.budget.errors import BudgetExhausted, ReservationNotOpen
from domain.budget.events import BudgetExceeded
from domain.delegation.errors import AttemptOutOfOrder, CallbackAlreadyDelivered, InvalidTransition, NoCallbackUrl
from domain.errors import (
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidCommand,
    NotFound,
    StateConflict,
    Unavailable,
    UnexpectedEvent,
)
from domain.session.errors import ReplyCancelledError, SessionAlreadyStarted, SessionClosedError, TextTooLong
from domain.session.events import SessionClosed
from domain.tool.errors import (
    ApprovalDeadlinePassed,
    ApprovalNotDue,
    ToolAlreadyDecided,
    ToolAlreadyRequested,
    ToolNotAwaitingApproval,
    ToolOutcomeAlreadyRecorded,
)

ID = uuid.uuid4()
AT = datetime(2026, 3, 1, 13, 30, 5, tzinfo=timezone(timedelta(hours=2)))  # 11:30:05 UTC

# built inside the test (not at import), so a mutant of an error's constructor is what the test sees
CONFLICTS: list[tuple[Callable[[], StateConflict], str]] = [
    (lambda: SessionAlreadyStarted(ID), "session already started"),
    (lambda: SessionClosedError(ID), "session is closed"),
    (lambda: ReplyCancelledError(ID), "the reply was cancelled"),
    (lambda: ToolAlreadyRequested(ID), "tool already requested"),
    (lambda: ToolOutcomeAlreadyRecorded(ID, "completed"), "outcome already recorded: completed"),
    (lambda: ToolAlreadyDecided(ID, "allowed"), "policy already decided: allowed"),
    (lambda: ToolNotAwaitingApproval(ID, "running"), "the tool execution is not awaiting approval (it is running)"),
    (
        lambda: ApprovalDeadlinePassed(ID, AT),
        "too late: nobody approved or denied it before its approval deadline, 2026-03-01 11:30:05 UTC;"
        " it ends timed_out",
    ),
    (lambda: ApprovalNotDue(ID, AT), "its approval deadline is 2026-03-01 11:30:05 UTC"),
    (lambda: ApprovalNotDue(ID, None), "it has no approval deadline"),
    (lambda: InvalidTransition(ID, "queued", "complete"), "cannot complete a task that is queued"),
    (lambda: NoCallbackUrl(ID), "task has no callback URL"),
    (lambda: CallbackAlreadyDelivered(ID), "callback already delivered"),
    (lambda: AttemptOutOfOrder(ID, 2, 3), "callback attempt 2 does not follow attempt 3"),
]


@pytest.mark.parametrize(("make", "reason"), CONFLICTS, ids=[reason for _, reason in CONFLICTS])
def test_a_state_conflict_names_its_stream_and_says_why(make: Callable[[], StateConflict], reason: str):
    error = make()
    assert isinstance(error, StateConflict)
    assert (error.stream_id, error.reason) == (str(ID), reason)
    assert str(error) == f"{ID}: {reason}"


def test_state_conflicts_keep_the_data_they_were_raised_with():
    assert SessionClosedError(ID).session_id == ID
    assert ReplyCancelledError(ID).session_id == ID
    assert SessionAlreadyStarted(ID).session_id == ID
    assert ToolAlreadyRequested(ID).request_id == ID
    outcome = ToolOutcomeAlreadyRecorded(ID, "denied")
    assert (outcome.request_id, outcome.outcome) == (ID, "denied")
    decided = ToolAlreadyDecided(ID, "approved")
    assert (decided.request_id, decided.decision) == (ID, "approved")
    waiting = ToolNotAwaitingApproval(ID, "completed")
    assert (waiting.request_id, waiting.status) == (ID, "completed")
    assert (ApprovalDeadlinePassed(ID, AT).request_id, ApprovalDeadlinePassed(ID, AT).expires_at) == (ID, AT)
    assert (ApprovalNotDue(ID, None).request_id, ApprovalNotDue(ID, None).expires_at) == (ID, None)
    transition = InvalidTransition(ID, "done", "start")
    assert (transition.task_id, transition.status, transition.action) == (ID, "done", "start")
    assert NoCallbackUrl(ID).task_id == ID and CallbackAlreadyDelivered(ID).task_id == ID
    order = AttemptOutOfOrder(ID, 1, 4)
    assert (order.task_id, order.attempt, order.last_attempt) == (ID, 1, 4)
    unopened = ReservationNotOpen("budget-s", ID)
    assert (unopened.stream_id, unopened.reservation_id, unopened.reason) == (
        "budget-s",
        ID,
        f"reservation {ID} is not open",
    )


def test_an_invalid_value_names_its_field_and_the_limit_it_broke():
    error = TextTooLong("text", 5001, 5000)

    assert isinstance(error, InvalidCommand)
    assert (error.field, error.length, error.limit) == ("text", 5001, 5000)
    assert error.reason == "must be at most 5000 characters, got 5001"
    assert str(error) == "text: must be at most 5000 characters, got 5001"


def test_an_exhausted_budget_says_what_was_asked_and_left_and_carries_the_fact_to_record():
    day = date(2026, 3, 1)
    error = BudgetExhausted("acme", "helper", day, 50, 40, 100)

    assert isinstance(error, DomainError)
    assert str(error) == "budget of acme/helper on 2026-03-01 exhausted: requested 50, remaining 40 of 100"
    assert (error.tenant_id, error.persona_id, error.day) == ("acme", "helper", day)
    assert (error.requested, error.remaining, error.limit) == (50, 40, 100)
    assert error.event == BudgetExceeded(
        tenant_id="acme", persona_id="helper", day=day, requested=50, remaining=40, limit=100
    )


def test_the_shared_errors_carry_their_data_and_messages():
    missing = NotFound("session", "session-1")
    assert (missing.stream_type, missing.stream_id, str(missing)) == (
        "session",
        "session-1",
        "session session-1 not found",
    )
    conflict = ConcurrencyConflict("s-1", 3, 5)
    assert (conflict.stream_id, conflict.expected, conflict.actual) == ("s-1", 3, 5)
    assert str(conflict) == "stream s-1: expected version 3, found 5"
    reused = IdempotencyKeyReused("k-1")
    assert (reused.key, str(reused)) == ("k-1", "idempotency key 'k-1' was already used for a different request")
    invalid = InvalidCommand("title", "must not be blank")
    assert (invalid.field, invalid.reason, str(invalid)) == ("title", "must not be blank", "title: must not be blank")


def test_a_conflict_gives_the_events_it_missed_only_when_it_holds_all_of_them():
    one, two = SessionClosed(session_id=uuid.uuid4()), SessionClosed(session_id=uuid.uuid4())
    assert ConcurrencyConflict("s-1", 3, 5, [(4, one), (5, two)]).missed() == [one, two]
    assert ConcurrencyConflict("s-1", 3, 5).missed() is None  # the store did not return them
    assert ConcurrencyConflict("s-1", 3, 5, [(5, two)]).missed() is None  # one is missing
    assert ConcurrencyConflict("s-1", 3, 3).missed() is None  # the stream did not move (its key was recorded)


def test_a_bug_and_an_outage_are_not_broken_rules():
    bug = UnexpectedEvent("session", "MessagePosted", 7)
    assert not isinstance(bug, DomainError)
    assert (bug.stream_type, bug.event_type, bug.version) == ("session", "MessagePosted", 7)
    assert str(bug) == "session: MessagePosted cannot follow version 7"

    down = Unavailable("postgres", "connection refused")
    assert not isinstance(down, DomainError)
    assert (down.dependency, down.reason, down.retry_after) == ("postgres", "connection refused", 1)
    assert str(down) == "postgres is unavailable: connection refused"
    assert Unavailable("redis", "timeout", retry_after=5).retry_after == 5


def test_deadlines_are_shown_in_utc_whatever_zone_they_were_given_in():
    assert ApprovalNotDue(ID, AT.astimezone(UTC)).reason == ApprovalNotDue(ID, AT).reason
