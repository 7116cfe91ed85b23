"""Commands of a delegation task: create, start, complete or fail, and record callback delivery."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, kw_only=True)
class CreateDelegationTask:
    """Queue a task; `callback_url` (http or https), if any, is told when the task ends."""

    task_id: UUID
    title: str
    instructions: str
    callback_url: str | None = None
    parent_session_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class StartDelegationTask:
    task_id: UUID
    worker: str


@dataclass(frozen=True, kw_only=True)
class CompleteDelegationTask:
    task_id: UUID
    result: str


@dataclass(frozen=True, kw_only=True)
class FailDelegationTask:
    task_id: UUID
    error: str


@dataclass(frozen=True, kw_only=True)
class RecordCallbackDelivered:
    """The callback endpoint accepted the task's outcome with a 2xx `status_code`."""

    task_id: UUID
    status_code: int


@dataclass(frozen=True, kw_only=True)
class RecordCallbackFailed:
    """Delivery attempt number `attempt` (1, 2, ...; increasing) did not succeed."""

    task_id: UUID
    error: str
    attempt: int
