"""The delegation task aggregate: queued, running, then completed or failed; then callback delivery."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from domain.decider import Decider
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
from domain.errors import InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.validation import require_at_least, require_http_url, require_text

STREAM_TYPE = "delegation"


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ENDED = (TaskStatus.COMPLETED, TaskStatus.FAILED)


@dataclass(frozen=True, kw_only=True)
class DelegationTask:
    """A task's state: status, callback target and progress (last failed attempt, delivered), events folded."""

    task_id: UUID
    status: TaskStatus = TaskStatus.QUEUED
    callback_url: str | None = None
    parent_session_id: UUID | None = None
    worker: str | None = None
    callback_attempts: int = 0
    callback_delivered: bool = False
    version: int = 0


def stream_id(task_id: UUID) -> str:
    """The id of a delegation task's stream."""
    return str(task_id)


def evolve(state: DelegationTask | None, event: DomainEvent) -> DelegationTask:
    """The state after one more event."""
    match state, event:
        case None, DelegationTaskCreated():
            return DelegationTask(
                task_id=event.task_id,
                callback_url=event.callback_url,
                parent_session_id=event.parent_session_id,
                version=1,
            )
        case DelegationTask(), DelegationTaskStarted():
            return replace(state, status=TaskStatus.RUNNING, worker=event.worker, version=state.version + 1)
        case DelegationTask(), DelegationTaskCompleted():
            return replace(state, status=TaskStatus.COMPLETED, version=state.version + 1)
        case DelegationTask(), DelegationTaskFailed():
            return replace(state, status=TaskStatus.FAILED, version=state.version + 1)
        case DelegationTask(), DelegationCallbackDelivered():
            return replace(state, callback_delivered=True, version=state.version + 1)
        case DelegationTask(), DelegationCallbackFailed():
            return replace(state, callback_attempts=event.attempt, version=state.version + 1)
    raise UnexpectedEvent(STREAM_TYPE, event.type_name(), state.version if state else 0)


DECIDER = Decider(stream_type=STREAM_TYPE, evolve=evolve, state_type=DelegationTask)


def create(state: DelegationTask | None, command: CreateDelegationTask) -> list[DomainEvent]:
    """Queue a new task: non-blank title and instructions, an http(s) callback URL if any."""
    if state is not None:
        raise InvalidTransition(command.task_id, state.status.value, "create")
    if command.callback_url is not None:
        require_http_url("callback_url", command.callback_url)
    return [
        DelegationTaskCreated(
            task_id=command.task_id,
            title=require_text("title", command.title),
            instructions=require_text("instructions", command.instructions),
            callback_url=command.callback_url,
            parent_session_id=command.parent_session_id,
        )
    ]


def start(state: DelegationTask | None, command: StartDelegationTask) -> list[DomainEvent]:
    """A named worker takes a queued task."""
    task = _in_status(state, command.task_id, "start", TaskStatus.QUEUED)
    return [DelegationTaskStarted(task_id=task.task_id, worker=require_text("worker", command.worker))]


def complete(state: DelegationTask | None, command: CompleteDelegationTask) -> list[DomainEvent]:
    """A running task ends with its result (which may be empty)."""
    task = _in_status(state, command.task_id, "complete", TaskStatus.RUNNING)
    return [DelegationTaskCompleted(task_id=task.task_id, result=command.result)]


def fail(state: DelegationTask | None, command: FailDelegationTask) -> list[DomainEvent]:
    """A running task ends with a non-blank error."""
    task = _in_status(state, command.task_id, "fail", TaskStatus.RUNNING)
    return [DelegationTaskFailed(task_id=task.task_id, error=require_text("error", command.error))]


def record_callback_delivered(state: DelegationTask | None, command: RecordCallbackDelivered) -> list[DomainEvent]:
    """The ended task's callback was accepted (2xx); at most once."""
    task, url = _callback_due(state, command.task_id, "deliver the callback of")
    if not 200 <= command.status_code < 300:
        raise InvalidCommand("status_code", f"a delivered callback has a 2xx status, got {command.status_code}")
    return [DelegationCallbackDelivered(task_id=task.task_id, callback_url=url, status_code=command.status_code)]


def record_callback_failed(state: DelegationTask | None, command: RecordCallbackFailed) -> list[DomainEvent]:
    """One more failed delivery of the ended task's callback; attempt numbers start at 1 and increase."""
    task, url = _callback_due(state, command.task_id, "fail the callback of")
    attempt = require_at_least("attempt", command.attempt, 1)
    if attempt <= task.callback_attempts:
        raise AttemptOutOfOrder(task.task_id, attempt, task.callback_attempts)
    error = require_text("error", command.error)
    return [DelegationCallbackFailed(task_id=task.task_id, callback_url=url, error=error, attempt=attempt)]


def _in_status(state: DelegationTask | None, task_id: UUID, action: str, status: TaskStatus) -> DelegationTask:
    """The task, if it exists and is in `status`; else NotFound or InvalidTransition naming its status."""
    if state is None:
        raise NotFound(STREAM_TYPE, stream_id(task_id))
    if state.status != status:
        raise InvalidTransition(task_id, state.status.value, action)
    return state


def _callback_due(state: DelegationTask | None, task_id: UUID, action: str) -> tuple[DelegationTask, str]:
    """The task and its callback URL, if it ended, has a URL and the callback is not delivered yet."""
    if state is None:
        raise NotFound(STREAM_TYPE, stream_id(task_id))
    if state.status not in ENDED:
        raise InvalidTransition(task_id, state.status.value, action)
    if state.callback_url is None:
        raise NoCallbackUrl(task_id)
    if state.callback_delivered:
        raise CallbackAlreadyDelivered(task_id)
    return state, state.callback_url
