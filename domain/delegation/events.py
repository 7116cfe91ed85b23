"""Events of a delegation task."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class DelegationEvent(DomainEvent):
    aggregate = "delegation"
    task_id: UUID


@dataclass(frozen=True, kw_only=True)
class DelegationTaskCreated(DelegationEvent):
    title: str
    instructions: str
    callback_url: str | None = None
    parent_session_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class DelegationTaskStarted(DelegationEvent):
    worker: str


@dataclass(frozen=True, kw_only=True)
class DelegationTaskCompleted(DelegationEvent):
    result: str


@dataclass(frozen=True, kw_only=True)
class DelegationTaskFailed(DelegationEvent):
    error: str


@dataclass(frozen=True, kw_only=True)
class DelegationCallbackDelivered(DelegationEvent):
    callback_url: str
    status_code: int


@dataclass(frozen=True, kw_only=True)
class DelegationCallbackFailed(DelegationEvent):
    callback_url: str
    error: str
    attempt: int


EVENTS = (
    DelegationTaskCreated,
    DelegationTaskStarted,
    DelegationTaskCompleted,
    DelegationTaskFailed,
    DelegationCallbackDelivered,
    DelegationCallbackFailed,
)
