"""What the API answers, as pydantic models; fields the server adds later are kept, not refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """A response body: unknown fields are allowed, so a newer server does not break an older client."""

    model_config = ConfigDict(extra="allow")


class Recorded(Model):
    """What a command recorded: pass `position` as `min_position` to a read to see the write."""

    event_id: UUID | None
    position: int


class MessageAccepted(Recorded):
    session_id: UUID


class SessionClosed(Recorded):
    session_id: UUID


class ReplyCancelled(Recorded):
    session_id: UUID


class ForkOrigin(Model):
    session_id: UUID
    version: int


class SessionForked(Recorded):
    session_id: UUID
    forked_from: ForkOrigin


class Session(Model):
    session_id: UUID
    persona_id: str | None
    status: str
    messages: int
    started_at: datetime | None
    last_activity: datetime | None
    closed_at: datetime | None


class Message(Model):
    message_id: UUID
    role: str
    text: str
    attachments: list[dict[str, Any]]
    metadata: dict[str, str]
    at: datetime
    version: int


class SessionPage(Model):
    items: list[Session]
    next_cursor: str | None


class MessagePage(Model):
    items: list[Message]
    next_cursor: str | None


class RawEvent(Model):
    position: int
    version: int
    event_type: str
    schema_id: int
    schema_version: int | None
    event_id: UUID
    occurred_at: datetime
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    traceparent: str | None = None
    data: dict[str, Any]


class LoggedEvent(RawEvent):
    stream_id: str
    stream_type: str


class EventPage(Model):
    items: list[LoggedEvent]
    next_cursor: str | None


class InvocationAccepted(Recorded):
    request_id: UUID


class ToolExecution(Model):
    request_id: UUID
    tool_name: str
    arguments: Any
    session_id: UUID | None
    status: str
    result: Any = None
    error: str | None = None
    reason: str | None = None
    policy: str | None = None
    duration_ms: int | None = None
    timed_out: bool | None = None
    decision: str | None = None
    decision_reason: str | None = None
    decision_policy: str | None = None
    approval_expires_at: datetime | None = None
    approver: str | None = None
    approval_note: str | None = None


class ToolExecutionList(Model):
    items: list[ToolExecution]


class LimitSet(Recorded):
    tenant_id: str
    persona_id: str | None
    daily_tokens: int


class Usage(Model):
    persona_id: str
    day: date
    used: int
    limit: int | None
    remaining: int | None
    refused: int


class UsageList(Model):
    items: list[Usage]


class TaskRecorded(Recorded):
    task_id: UUID


class Task(Model):
    task_id: UUID
    status: str
    title: str
    instructions: str
    parent_session_id: UUID | None
    worker: str | None
    result: str | None
    error: str | None
    callback_url: str | None
    callback_delivered: bool
    callback_status_code: int | None
    callback_attempts: int


class ModelProfile(Model):
    role: str
    deployment_mode: str
    model: str
    base_url: str
    api_path: str
    temperature: float
    extras: dict[str, str]


class ProfileRecorded(Recorded):
    role: str
    deployment_mode: str


class DeadLetter(Model):
    offset: int
    event_type: str
    source: str = Field(alias="from")
    position: int
    attempts: int
    failed_at: str
    error: str


class ViewDeadLetters(Model):
    view: str
    pending: int
    letters: list[DeadLetter]


class DeadLetterList(Model):
    items: list[ViewDeadLetters]


class DeadLettersReplayed(Model):
    view: str
    read: int
    applied: int
    already_applied: int
    failed_again: int


class SupervisedProcess(Model):
    name: str
    pid: int | None
    state: str
    restarts: int
    last_exit: int | None
    last_start: str | None
    detail: str


class ProcessList(Model):
    items: list[SupervisedProcess]
    supervisor_pid: int | None = None
    updated: str | None = None
    note: str | None = None


class TraceSpan(Model):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start_unix_nano: int
    end_unix_nano: int
    offset_ms: float
    duration_ms: float
    status: str
    status_message: str | None = None
    attributes: dict[str, Any]


class Trace(Model):
    trace_id: str
    duration_ms: float
    spans: list[TraceSpan]


class Health(Model):
    status: str
    dependencies: dict[str, dict[str, Any]]
    freshness: dict[str, dict[str, Any]] = {}


class StreamEvent(Model):
    """One live transcript update (SSE or WebSocket): its resume `id`, its `kind` and its `data`.

    Kinds: `message`, `chunk`, `cancelled`, `closed` (the last one: the stream ends after it).
    """

    id: str | None
    kind: str
    data: Any
