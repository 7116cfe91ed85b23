"""Delegation task decisions: queued, started, completed or failed, then callback delivery."""

from __future__ import annotations

import uuid

import pytest

from domain.delegation import aggregate as delegation
from domain.delegation.aggregate import TaskStatus
from domain.delegation.commands import (
    CompleteDelegationTask,
    CreateDelegationTask,
    FailDelegationTask,
    RecordCallbackDelivered,
    RecordCallbackFailed,
    StartDelegationTask,
)
from domain.delegation.errors import AttemptOutOfOrder, CallbackAlreadyDelivered, InvalidTransition, NoCallbackUrl
from domain.delegation.events import (
    DelegationCallbackDelivered,
    DelegationCallbackFailed,
    DelegationTaskCompleted,
    DelegationTaskCreated,
    DelegationTaskFailed,
    DelegationTaskStarted,
)
from domain.errors import InvalidCommand, NotFound, StateConflict, UnexpectedEvent
from domain.events import DomainEvent

URL = "https://hooks.example/done"


@pytest.fixture
def tid() -> uuid.UUID:
    return uuid.uuid4()


def given(*events: DomainEvent) -> delegation.DelegationTask | None:
    return delegation.DECIDER.fold(events)


def created(tid: uuid.UUID, callback_url: str | None = URL) -> DelegationTaskCreated:
    return DelegationTaskCreated(task_id=tid, title="t", instructions="do it", callback_url=callback_url)


def started(tid: uuid.UUID) -> DelegationTaskStarted:
    return DelegationTaskStarted(task_id=tid, worker="w1")


def completed(tid: uuid.UUID) -> DelegationTaskCompleted:
    return DelegationTaskCompleted(task_id=tid, result="ok")


def failed(tid: uuid.UUID) -> DelegationTaskFailed:
    return DelegationTaskFailed(task_id=tid, error="boom")


def callback_failed(tid: uuid.UUID, attempt: int) -> DelegationCallbackFailed:
    return DelegationCallbackFailed(task_id=tid, callback_url=URL, error="503", attempt=attempt)


def delivered(tid: uuid.UUID) -> DelegationCallbackDelivered:
    return DelegationCallbackDelivered(task_id=tid, callback_url=URL, status_code=200)


def test_a_created_task_is_queued_with_its_callback(tid):
    parent = uuid.uuid4()
    command = CreateDelegationTask(
        task_id=tid, title="t", instructions="do it", callback_url=URL, parent_session_id=parent
    )
    events = delegation.create(given(), command)
    assert events == [
        DelegationTaskCreated(task_id=tid, title="t", instructions="do it", callback_url=URL, parent_session_id=parent)
    ]
    assert given(*events) == delegation.DelegationTask(
        task_id=tid, status=TaskStatus.QUEUED, callback_url=URL, parent_session_id=parent, version=1
    )


@pytest.mark.parametrize("url", [None, "http://localhost:8080/cb", URL])
def test_a_callback_is_optional_and_http_or_https(tid, url):
    command = CreateDelegationTask(task_id=tid, title="t", instructions="i", callback_url=url)
    assert delegation.create(given(), command)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"callback_url": "ftp://x/cb"}, "callback_url"),
        ({"callback_url": "hooks.example/cb"}, "callback_url"),
        ({"callback_url": "https://"}, "callback_url"),
        ({"title": " "}, "title"),
        ({"instructions": ""}, "instructions"),
    ],
)
def test_an_invalid_task_names_the_field(tid, changes, field):
    values = {"task_id": tid, "title": "t", "instructions": "i", **changes}
    with pytest.raises(InvalidCommand) as raised:
        delegation.create(given(), CreateDelegationTask(**values))
    assert raised.value.field == field


def test_creating_an_existing_task_is_a_conflict_naming_its_status(tid):
    with pytest.raises(InvalidTransition) as raised:
        delegation.create(
            given(created(tid), started(tid)), CreateDelegationTask(task_id=tid, title="t", instructions="i")
        )
    assert (raised.value.task_id, raised.value.status, raised.value.action) == (tid, "running", "create")


def test_the_happy_path_queued_running_completed_delivered(tid):
    state = given(created(tid))
    events = delegation.start(state, StartDelegationTask(task_id=tid, worker="w1"))
    assert events == [started(tid)]
    state = given(created(tid), *events)
    assert state is not None
    assert (state.status, state.worker) == (TaskStatus.RUNNING, "w1")
    events = delegation.complete(state, CompleteDelegationTask(task_id=tid, result="ok"))
    assert events == [completed(tid)]
    state = given(created(tid), started(tid), *events)
    events = delegation.record_callback_delivered(state, RecordCallbackDelivered(task_id=tid, status_code=204))
    assert events == [DelegationCallbackDelivered(task_id=tid, callback_url=URL, status_code=204)]
    state = given(created(tid), started(tid), completed(tid), *events)
    assert state is not None
    assert state.callback_delivered


def test_a_running_task_may_fail_with_an_error(tid):
    events = delegation.fail(given(created(tid), started(tid)), FailDelegationTask(task_id=tid, error="boom"))
    assert events == [failed(tid)]
    state = given(created(tid), started(tid), *events)
    assert state is not None
    assert state.status is TaskStatus.FAILED


@pytest.mark.parametrize(
    ("decide", "field"),
    [
        (lambda s, tid: delegation.start(s, StartDelegationTask(task_id=tid, worker=" ")), "worker"),
        (lambda s, tid: delegation.fail(s, FailDelegationTask(task_id=tid, error="")), "error"),
    ],
    ids=["start-worker", "fail-error"],
)
def test_blank_worker_or_error_is_invalid(tid, decide, field):
    state = given(created(tid)) if field == "worker" else given(created(tid), started(tid))
    with pytest.raises(InvalidCommand) as raised:
        decide(state, tid)
    assert raised.value.field == field


TRANSITIONS = {
    "start": lambda s, tid: delegation.start(s, StartDelegationTask(task_id=tid, worker="w")),
    "complete": lambda s, tid: delegation.complete(s, CompleteDelegationTask(task_id=tid, result="r")),
    "fail": lambda s, tid: delegation.fail(s, FailDelegationTask(task_id=tid, error="e")),
}


@pytest.mark.parametrize(
    ("action", "history", "status"),
    [
        ("start", [started], "running"),
        ("start", [started, completed], "completed"),
        ("start", [started, failed], "failed"),
        ("complete", [], "queued"),
        ("complete", [started, completed], "completed"),
        ("complete", [started, failed], "failed"),
        ("fail", [], "queued"),
        ("fail", [started, failed], "failed"),
        ("fail", [started, completed], "completed"),
    ],
)
def test_an_invalid_transition_is_a_conflict_naming_the_current_status(tid, action, history, status):
    state = given(created(tid), *(event(tid) for event in history))
    with pytest.raises(InvalidTransition) as raised:
        TRANSITIONS[action](state, tid)
    assert isinstance(raised.value, StateConflict)
    assert (raised.value.status, raised.value.action) == (status, action)


CALLBACKS = {
    "delivered": lambda s, tid: delegation.record_callback_delivered(
        s, RecordCallbackDelivered(task_id=tid, status_code=200)
    ),
    "failed": lambda s, tid: delegation.record_callback_failed(
        s, RecordCallbackFailed(task_id=tid, error="503", attempt=1)
    ),
}


@pytest.mark.parametrize("decide", [*TRANSITIONS.values(), *CALLBACKS.values()], ids=[*TRANSITIONS, *CALLBACKS])
def test_a_missing_task_is_not_found(tid, decide):
    with pytest.raises(NotFound) as raised:
        decide(given(), tid)
    assert (raised.value.stream_type, raised.value.stream_id) == ("delegation", str(tid))


@pytest.mark.parametrize("callback", CALLBACKS)
@pytest.mark.parametrize(("history", "status"), [([], "queued"), ([started], "running")])
def test_no_callback_before_the_task_ended(tid, callback, history, status):
    with pytest.raises(InvalidTransition) as raised:
        CALLBACKS[callback](given(created(tid), *(e(tid) for e in history)), tid)
    assert raised.value.status == status


@pytest.mark.parametrize("callback", CALLBACKS)
def test_no_callback_without_a_callback_url(tid, callback):
    with pytest.raises(NoCallbackUrl) as raised:
        CALLBACKS[callback](given(created(tid, callback_url=None), started(tid), completed(tid)), tid)
    assert raised.value.task_id == tid
    assert isinstance(raised.value, StateConflict)


def test_failed_attempts_repeat_with_increasing_numbers_then_delivery(tid):
    history = [created(tid), started(tid), failed(tid)]
    first = delegation.record_callback_failed(
        given(*history), RecordCallbackFailed(task_id=tid, error="503", attempt=1)
    )
    assert first == [callback_failed(tid, 1)]
    third = delegation.record_callback_failed(
        given(*history, *first), RecordCallbackFailed(task_id=tid, error="503", attempt=3)
    )
    assert third == [callback_failed(tid, 3)]
    state = given(*history, *first, *third)
    assert state is not None
    assert state.callback_attempts == 3
    assert delegation.record_callback_delivered(state, RecordCallbackDelivered(task_id=tid, status_code=200)) == [
        delivered(tid)
    ]


@pytest.mark.parametrize("attempt", [1, 2])
def test_an_attempt_number_that_does_not_increase_is_a_conflict(tid, attempt):
    state = given(created(tid), started(tid), completed(tid), callback_failed(tid, 1), callback_failed(tid, 2))
    with pytest.raises(AttemptOutOfOrder) as raised:
        delegation.record_callback_failed(state, RecordCallbackFailed(task_id=tid, error="e", attempt=attempt))
    assert (raised.value.attempt, raised.value.last_attempt) == (attempt, 2)


@pytest.mark.parametrize(("attempt", "error", "field"), [(0, "e", "attempt"), (1, " ", "error")])
def test_an_invalid_failed_attempt_names_the_field(tid, attempt, error, field):
    state = given(created(tid), started(tid), completed(tid))
    with pytest.raises(InvalidCommand) as raised:
        delegation.record_callback_failed(state, RecordCallbackFailed(task_id=tid, error=error, attempt=attempt))
    assert raised.value.field == field


@pytest.mark.parametrize("status_code", [199, 302, 404, 500])
def test_only_a_2xx_response_is_a_delivery(tid, status_code):
    state = given(created(tid), started(tid), completed(tid))
    with pytest.raises(InvalidCommand) as raised:
        delegation.record_callback_delivered(state, RecordCallbackDelivered(task_id=tid, status_code=status_code))
    assert raised.value.field == "status_code"


@pytest.mark.parametrize("callback", CALLBACKS)
def test_after_delivery_no_callback_is_recorded(tid, callback):
    with pytest.raises(CallbackAlreadyDelivered) as raised:
        CALLBACKS[callback](given(created(tid), started(tid), completed(tid), delivered(tid)), tid)
    assert raised.value.task_id == tid


def test_an_event_before_creation_is_a_corrupted_stream(tid):
    with pytest.raises(UnexpectedEvent):
        given(started(tid))
    with pytest.raises(UnexpectedEvent):
        given(created(tid), created(tid))


def test_folding_every_event_counts_them_in_the_version(tid):
    events = [
        created(tid),
        started(tid),
        completed(tid),
        callback_failed(tid, 1),
        callback_failed(tid, 2),
        delivered(tid),
    ]
    state = delegation.DECIDER.fold(events)
    assert state is not None
    assert state.version == len(events)
    assert delegation.DECIDER.stream_type == "delegation"
    assert delegation.stream_id(tid) == str(tid)
