"""Delegation: queue a task for a worker, read it, and move it along (start, complete, fail)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from api.body import JsonRoute
from api.callbacks import check_callback_url
from api.deps import CallerDep, ContextDep, MinPosition, ServicesDep
from api.errors import ApiError, responses
from api.schemas import NOT_BLANK, HttpUrlText, Recorded, Strict, recorded
from domain.delegation.aggregate import stream_id
from domain.delegation.commands import (
    CompleteDelegationTask,
    CreateDelegationTask,
    FailDelegationTask,
    StartDelegationTask,
)
from domain.delegation.service import complete_task, create_task, fail_task, start_task
from domain.events import AppendResult

router = APIRouter(tags=["delegation"], route_class=JsonRoute)
TaskId = Annotated[UUID, Path(description="the `task_id` the task was created with")]
TRANSITION_ERRORS = responses(400, 404, 409, 413, 415)


class TaskIn(Strict):
    title: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK, examples=["Summarise the Q3 report"])
    instructions: str = Field(
        min_length=1, max_length=32_000, pattern=NOT_BLANK, examples=["Three bullet points, for the board."]
    )
    callback_url: HttpUrlText | None = Field(
        default=None,
        description="an http(s) URL told the outcome when the task ends; not a loopback, private or link-local "
        "address unless the host is in AGENTLOG_API_CALLBACK_ALLOW_HOSTS",
        examples=["https://hooks.example.com/agentlog"],
    )
    parent_session_id: UUID | None = Field(default=None, description="the session that delegated the task")


class StartIn(Strict):
    worker: str = Field(
        min_length=1, max_length=200, pattern=NOT_BLANK, description="who takes the task", examples=["worker-7"]
    )


class CompleteIn(Strict):
    result: str = Field(max_length=100_000, description="the outcome (may be empty)", examples=["- revenue up 4%"])


class FailIn(Strict):
    error: str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK, examples=["source document unavailable"])


class TaskRecorded(Recorded):
    task_id: UUID


class TaskOut(BaseModel):
    task_id: UUID
    status: Literal["queued", "running", "completed", "failed"]
    title: str = Field(examples=["Summarise the Q3 report"])
    instructions: str
    parent_session_id: UUID | None
    worker: str | None = Field(description="who took it, once started", examples=["worker-7"])
    result: str | None = Field(description="the outcome, once completed")
    error: str | None = Field(description="why it failed, once failed")
    callback_url: str | None
    callback_delivered: bool = Field(description="the callback URL accepted the outcome")
    callback_status_code: int | None = Field(description="the callback's 2xx answer, once delivered", examples=[204])
    callback_attempts: int = Field(description="failed callback deliveries so far", examples=[0])


def _recorded(response: Response, task_id: UUID | str, result: AppendResult) -> dict[str, object]:
    """A command's answer: the task and what was recorded, with the task's address in `Location`."""
    response.headers["Location"] = f"/v1/delegation/tasks/{task_id}"
    return {"task_id": task_id, **recorded(result)}


def _task(row: dict[str, str], task_id: UUID) -> TaskOut:
    """A view row (every value text, see projections.views.delegation_tasks) as the response."""
    status = row.get("status", "queued")
    return TaskOut(
        task_id=task_id,
        status=status,  # type: ignore[arg-type]  # the view writes only these statuses
        title=row.get("title", ""),
        instructions=row.get("instructions", ""),
        parent_session_id=UUID(row["parent_session_id"]) if row.get("parent_session_id") else None,
        worker=row.get("worker"),
        result=row.get("result") if status == "completed" else None,
        error=row.get("error") if status == "failed" else None,
        callback_url=row.get("callback_url"),
        callback_delivered="callback_status_code" in row,
        callback_status_code=int(row["callback_status_code"]) if row.get("callback_status_code") else None,
        callback_attempts=int(row.get("callback_attempt") or 0),
    )


@router.post(
    "/delegation/tasks",
    operation_id="createDelegationTask",
    status_code=202,
    response_model=TaskRecorded,
    summary="Queue a task for a worker",
    responses=responses(400, 404, 409, 413, 415, 503),
)
async def create(body: TaskIn, svc: ServicesDep, ctx: ContextDep, response: Response) -> dict[str, object]:
    if body.callback_url is not None:
        await check_callback_url("callback_url", body.callback_url, svc.settings.api_callback_allow_hosts)
    task = CreateDelegationTask(
        task_id=uuid.uuid4(),
        title=body.title,
        instructions=body.instructions,
        callback_url=body.callback_url,
        parent_session_id=body.parent_session_id,
    )
    result = await create_task(svc.store, ctx, task)
    return _recorded(response, result.stream_id, result)


@router.get(
    "/delegation/tasks/{task_id}",
    operation_id="getDelegationTask",
    response_model=TaskOut,
    summary="A task with its status and outcome",
    responses=responses(404, 412),
)
async def get_task(task_id: TaskId, svc: ServicesDep, who: CallerDep, min_position: MinPosition = None) -> TaskOut:
    if min_position:
        await svc.read_your_write("delegation", stream_id(task_id), min_position)
    row = await svc.reads.task(task_id)
    if row is None or row.get("tenant_id") != who.tenant_id:
        raise ApiError(404, "not-found", f"task {task_id} not found")
    return _task(row, task_id)


@router.post(
    "/delegation/tasks/{task_id}/start",
    operation_id="startDelegationTask",
    status_code=202,
    response_model=TaskRecorded,
    summary="A worker takes a queued task",
    responses=TRANSITION_ERRORS,
)
async def start(
    task_id: TaskId, body: StartIn, svc: ServicesDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    result = await start_task(svc.store, ctx, StartDelegationTask(task_id=task_id, worker=body.worker))
    return _recorded(response, task_id, result)


@router.post(
    "/delegation/tasks/{task_id}/complete",
    operation_id="completeDelegationTask",
    status_code=202,
    response_model=TaskRecorded,
    summary="A running task ends with its result",
    responses=TRANSITION_ERRORS,
)
async def complete(
    task_id: TaskId, body: CompleteIn, svc: ServicesDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    result = await complete_task(svc.store, ctx, CompleteDelegationTask(task_id=task_id, result=body.result))
    return _recorded(response, task_id, result)


@router.post(
    "/delegation/tasks/{task_id}/fail",
    operation_id="failDelegationTask",
    status_code=202,
    response_model=TaskRecorded,
    summary="A running task ends with an error",
    responses=TRANSITION_ERRORS,
)
async def fail(
    task_id: TaskId, body: FailIn, svc: ServicesDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    result = await fail_task(svc.store, ctx, FailDelegationTask(task_id=task_id, error=body.error))
    return _recorded(response, task_id, result)
