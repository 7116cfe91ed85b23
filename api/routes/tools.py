"""Tools: request an invocation (recorded for the tool executor), read an execution's status and outcome."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, Field

from api.body import JsonRoute
from api.deps import CallerDep, ContextDep, MinPosition, Services, ServicesDep
from api.errors import ApiError, responses
from api.schemas import Int, Recorded, Strict, recorded
from domain.tool.aggregate import stream_id
from domain.tool.commands import RequestTool
from domain.tool.service import request_tool
from projections.queries import ViewBehind

router = APIRouter(tags=["tools"], route_class=JsonRoute)
ToolName = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="the tool's name", examples=["search"])]
RequestId = Annotated[UUID, Path(description="the `request_id` the invocation answered with")]
Status = Literal["requested", "completed", "failed", "timed_out", "denied"]


def _strict_json(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse NaN and Infinity: Python's parser accepts them, but they are not JSON and could not be served back."""
    json.dumps(value, allow_nan=False)  # ValueError -> 422
    return value


Arguments = Annotated[dict[str, Any], AfterValidator(_strict_json)]


class InvocationIn(Strict):
    arguments: Arguments = Field(
        default_factory=dict, description="the tool's arguments, any JSON object", examples=[{"query": "Q3 revenue"}]
    )
    session_id: UUID | None = Field(default=None, description="the session the call belongs to, if any")
    timeout_ms: Int = Field(
        default=30_000, ge=1, le=600_000, description="how long the executor may take", examples=[5000]
    )


class InvocationAccepted(Recorded):
    request_id: UUID = Field(description="the execution's id: read it at `/v1/tool-executions/{request_id}`")


class ToolExecutionOut(BaseModel):
    request_id: UUID
    tool_name: str = Field(examples=["search"])
    arguments: Any = Field(description="the arguments as requested (JSON)", examples=[{"query": "Q3 revenue"}])
    session_id: UUID | None
    status: Status = Field(description="`requested` until the executor records the one outcome")
    result: Any = Field(default=None, description="the tool's result (JSON) when completed", examples=[{"hits": 3}])
    error: str | None = Field(
        default=None, description="why it failed or timed out", examples=["timed out after 30000 ms"]
    )
    reason: str | None = Field(
        default=None, description="why policy denied it", examples=["not allowed for this persona"]
    )
    policy: str | None = Field(default=None, description="the policy rule that denied it", examples=["allow-list"])
    duration_ms: int | None = Field(default=None, description="how long the call took", examples=[412])
    timed_out: bool | None = Field(default=None, description="set on a failure: whether it was a timeout")


def _execution(row: dict[str, str], request_id: UUID) -> ToolExecutionOut:
    """A view row (every value text, see projections.views.tools) as the response."""
    return ToolExecutionOut(
        request_id=request_id,
        tool_name=row.get("tool_name", ""),
        arguments=json.loads(row.get("arguments_json") or "{}"),
        session_id=UUID(row["session_id"]) if row.get("session_id") else None,
        status=row.get("status", "requested"),  # type: ignore[arg-type]  # the view writes only Status values
        result=json.loads(row["result_json"]) if row.get("result_json") else None,
        error=row.get("error"),
        reason=row.get("reason"),
        policy=row.get("policy"),
        duration_ms=int(row["duration_ms"]) if row.get("duration_ms") else None,
        timed_out=row["timed_out"] == "True" if "timed_out" in row else None,
    )


@router.post(
    "/tools/{name}/invocations",
    status_code=202,
    response_model=InvocationAccepted,
    summary="Request a tool invocation; the tool executor records its outcome",
    responses=responses(400, 413, 415),
)
async def invoke(name: ToolName, body: InvocationIn, svc: ServicesDep, ctx: ContextDep) -> dict[str, object]:
    request = RequestTool(
        request_id=uuid.uuid4(),
        tool_name=name,
        arguments_json=json.dumps(body.arguments),
        session_id=body.session_id,
        timeout_ms=body.timeout_ms,
    )
    result = await request_tool(svc.store, ctx, request)
    return {"request_id": result.stream_id, **recorded(result)}


async def _execution_row(svc: Services, request_id: UUID, min_position: int | None) -> dict[str, str] | None:
    """The view's row; with `min_position`, once it is applied. The outcome travels on another topic
    than the request and can land first: wait for the request's part of the row too."""
    if not min_position:
        return await svc.reads.tool_execution(request_id)
    deadline = time.monotonic() + svc.settings.api_read_wait
    await svc.reads.wait_for("tools", stream_id(request_id), min_position, svc.settings.api_read_wait)
    while (row := await svc.reads.tool_execution(request_id)) is not None and "tenant_id" not in row:
        if time.monotonic() > deadline:  # the request's position is not known: say what the view holds
            raise ViewBehind("tools", stream_id(request_id), min_position, 0)
        await asyncio.sleep(0.01)
    return row


@router.get(
    "/tool-executions/{request_id}",
    response_model=ToolExecutionOut,
    summary="A tool execution: its status and, once recorded, its outcome",
    responses=responses(404, 412),
)
async def get_execution(
    request_id: RequestId, svc: ServicesDep, who: CallerDep, min_position: MinPosition = None
) -> ToolExecutionOut:
    row = await _execution_row(svc, request_id, min_position)
    if row is None or row.get("tenant_id") != who.tenant_id:
        raise ApiError(404, "not-found", f"tool execution {request_id} not found")
    return _execution(row, request_id)
