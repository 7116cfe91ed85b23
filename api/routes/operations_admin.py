"""The operations page's data (platform-admin): each view's dead letters and their replay, the supervised processes.

Dead letters and processes belong to the platform, not to a tenant (a letter's error may quote any tenant's
event), so these routes take the `platform-admin` scope, as model profiles do.
"""

from __future__ import annotations

from typing import Annotated

from confluent_kafka import KafkaException, Producer
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.body import JsonRoute
from api.deps import PlatformAdminDep, ServicesDep
from api.errors import ApiError, responses
from domain.errors import Unavailable
from observability import redisconn
from observability.processes import ProcessRecord, read_state
from projections.deadletter import DeadLetters
from projections.dlq import Where, pending, replay_view, row
from projections.views import VIEWS, View

router = APIRouter(tags=["admin"], route_class=JsonRoute)
ViewName = Annotated[str, Path(description=f"the view: {', '.join(VIEWS)}", examples=["sessions"])]


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    offset: int = Field(description="its offset in the view's dead-letter topic")
    event_type: str = Field(examples=["agentlog.session.MessagePosted"], description="`?` when it could not be read")
    source: str = Field(alias="from", examples=["conversation.inbound:0@41"], description="topic:partition@offset")
    position: int = Field(description="the event's position in the event store (0: unknown)")
    attempts: int = Field(description="tries before it was set aside")
    failed_at: str = Field(description="when it was set aside, ISO 8601")
    error: str


class ViewDeadLetters(BaseModel):
    view: str = Field(examples=["sessions"])
    pending: int = Field(description="dead letters not replayed yet")
    letters: list[DeadLetterOut] = Field(description="the oldest `limit` of them")


class DeadLetterList(BaseModel):
    items: list[ViewDeadLetters]


class ReplayOut(BaseModel):
    view: str = Field(examples=["sessions"])
    read: int = Field(description="dead letters replayed")
    applied: int
    already_applied: int
    failed_again: int = Field(description="set aside again: listed as pending once more")


class ProcessOut(BaseModel):
    name: str = Field(examples=["relay"])
    pid: int | None
    state: str = Field(description="running, restarting (down, to be started again) or stopped", examples=["running"])
    restarts: int
    last_exit: int | None = Field(description="the exit code of its last instance (negative: killed by that signal)")
    last_start: str | None
    detail: str = Field(description="why it is down, when it is")


class ProcessList(BaseModel):
    items: list[ProcessOut]
    supervisor_pid: int | None = None
    updated: str | None = Field(default=None, description="when the supervisor last wrote its state")
    note: str | None = Field(default=None, description="why the list is empty, when it is")


def _where(svc: ServicesDep) -> Where:
    settings = svc.settings
    return Where(settings.kafka_bootstrap_servers, settings.topic_prefix, settings.redis_prefix)


def _view(name: str) -> View:
    if name not in VIEWS:
        raise ApiError(404, "not-found", f"no view named {name!r}; the views: {', '.join(VIEWS)}", field="view")
    return VIEWS[name]


@router.get(
    "/admin/dead-letters",
    operation_id="listDeadLetters",
    response_model=DeadLetterList,
    summary="Each view's dead letters not replayed yet: how many, and the oldest of them (platform-admin)",
    responses=responses(403),
)
async def list_dead_letters(
    svc: ServicesDep,
    _: PlatformAdminDep,
    view: Annotated[
        str | None, Query(description="only this view", examples=["sessions"], json_schema_extra={"enum": list(VIEWS)})
    ] = None,
    limit: Annotated[int, Query(ge=0, le=1000, description="letters listed per view")] = 100,
) -> DeadLetterList:
    if view is not None and view not in VIEWS:
        raise ApiError(422, "invalid-value", f"no view named {view!r}; the views: {', '.join(VIEWS)}", field="view")
    items = []
    for one in [VIEWS[view]] if view else VIEWS.values():
        try:
            letters = await pending(svc.reads.client, _where(svc), one)
        except KafkaException as e:
            raise Unavailable("kafka", str(e)) from e
        rows = [DeadLetterOut.model_validate(row(letter)) for letter in letters[:limit]]
        items.append(ViewDeadLetters(view=one.name, pending=len(letters), letters=rows))
    return DeadLetterList(items=items)


@router.post(
    "/admin/dead-letters/{view}/replay",
    operation_id="replayDeadLetters",
    response_model=ReplayOut,
    summary="Apply a view's pending dead letters again, after their cause was fixed (platform-admin)",
    responses=responses(403, 404),
)
async def replay_dead_letters(view: ViewName, svc: ServicesDep, _: PlatformAdminDep) -> ReplayOut:
    """Done when it answers (200, not a command's 202: it records no event, it applies letters to a view)."""
    chosen = _view(view)
    settings = svc.settings
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    async with redisconn.connect(settings.redis_url) as client:
        try:
            done = await replay_view(
                client, _where(svc), chosen, svc.store.codec, DeadLetters(producer, settings.topic_prefix)
            )
        except KafkaException as e:
            raise Unavailable("kafka", str(e)) from e
    return ReplayOut(view=chosen.name, read=done.read, applied=done.applied, already_applied=done.already_applied,
                     failed_again=done.failed_again)  # fmt: skip


@router.get(
    "/admin/processes",
    operation_id="listProcesses",
    response_model=ProcessList,
    summary="The supervisor's processes: pid, state, restarts, last exit (platform-admin)",
    responses=responses(403),
)
async def list_processes(svc: ServicesDep, _: PlatformAdminDep) -> ProcessList:
    where = svc.settings.api_supervisor_state
    if where is None:
        return ProcessList(items=[], note="AGENTLOG_API_SUPERVISOR_STATE is not set: this API knows no supervisor")
    state = read_state(where)
    if state is None:
        return ProcessList(items=[], note=f"no supervisor state at {where}: the supervisor has not run")
    items = [
        ProcessOut(
            name=name,
            pid=record.pid,
            state=_state(record),
            restarts=record.restarts,
            last_exit=record.last_exit,
            last_start=record.last_start,
            detail=record.detail,
        )
        for name, record in state.processes.items()
    ]
    return ProcessList(items=items, supervisor_pid=state.pid, updated=state.updated)


def _state(record: ProcessRecord) -> str:
    if record.up():
        return "running"
    return "restarting" if record.detail else "stopped"
