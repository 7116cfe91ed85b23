"""Tools: request an invocation (recorded for the tool executor), read an execution's status and outcome, and
approve or deny one that policy left to a person (scope `approve` or `admin`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, BaseModel, Field

from api.auth import Caller
from api.body import JsonRoute
from api.deps import CallerDep, ContextDep, MinPosition, Services, ServicesDep
from api.errors import ApiError, responses
from api.routes.sessions import SessionId, owned_session
from api.schemas import Int, Recorded, Strict, recorded
from domain.tool.aggregate import stream_id
from domain.tool.commands import ApproveTool, DenyTool, RequestTool
from domain.tool.service import approve_tool, deny_tool, request_tool
from projections.queries import ViewBehind

router = APIRouter(tags=["tools"], route_class=JsonRoute)
ToolName = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="the tool's name", examples=["search"])]
RequestId = Annotated[UUID, Path(description="the `request_id` the invocation answered with")]
Status = Literal["requested", "running", "awaiting_approval", "completed", "failed", "timed_out", "denied"]
APPROVER_SCOPES = ("approve", "admin")
HUMAN_APPROVAL = "human approval"  # the `policy` of a denial a person made


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
    decision: Literal["allow", "deny", "approve"] | None = Field(
        default=None, description="what policy answered (`approve`: a person decides); null before it decided"
    )
    decision_reason: str | None = Field(default=None, description="why policy answered so", examples=["built-in"])
    decision_policy: str | None = Field(
        default=None, description="the policy that decided", examples=["rego:default.rego"]
    )
    approval_expires_at: datetime | None = Field(
        default=None, description="while awaiting approval: when it ends timed out if nobody approves or denies it"
    )
    approver: str | None = Field(
        default=None, description="who approved or denied it, when policy left it to a person", examples=["key:ab12"]
    )
    approval_note: str | None = Field(default=None, description="what the approver said")


class ApprovalIn(Strict):
    note: str = Field(default="", max_length=2000, description="why it is approved, kept with the approval")


class DenialIn(Strict):
    reason: str = Field(
        default="denied by an approver", min_length=1, max_length=2000, description="why, recorded as the outcome"
    )


def _location(request_id: UUID | str) -> str:
    return f"/v1/tool-executions/{request_id}"


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
        decision=row.get("decision"),  # type: ignore[arg-type]  # the view writes only these values
        decision_reason=row.get("decision_reason"),
        decision_policy=row.get("decision_policy"),
        approval_expires_at=datetime.fromisoformat(row["approval_expires_at"])
        if row.get("approval_expires_at")
        else None,
        approver=row.get("approver"),
        approval_note=row.get("approval_note"),
    )


@router.post(
    "/tools/{name}/invocations",
    operation_id="invokeTool",
    status_code=202,
    response_model=InvocationAccepted,
    summary="Request a tool invocation; the tool executor records its outcome",
    responses=responses(400, 404, 409, 413, 415),
)
async def invoke(
    name: ToolName, body: InvocationIn, svc: ServicesDep, ctx: ContextDep, response: Response
) -> dict[str, object]:
    request = RequestTool(
        request_id=uuid.uuid4(),
        tool_name=name,
        arguments_json=json.dumps(body.arguments),
        session_id=body.session_id,
        timeout_ms=body.timeout_ms,
    )
    result = await request_tool(svc.store, ctx, request)
    response.headers["Location"] = _location(result.stream_id)
    return {"request_id": result.stream_id, **recorded(result)}


async def _execution_row(svc: Services, request_id: UUID, min_position: int | None) -> dict[str, str] | None:
    """The view's row; with `min_position`, once it is applied. The outcome travels on another topic
    than the request and can land first: wait for the request's part of the row too."""
    if not min_position:
        return await svc.reads.tool_execution(request_id)
    deadline = time.monotonic() + svc.settings.api_read_wait
    await svc.read_your_write("tools", stream_id(request_id), min_position)
    while (row := await svc.reads.tool_execution(request_id)) is not None and "tenant_id" not in row:
        if time.monotonic() > deadline:  # the request's position is not known: say what the view holds
            raise ViewBehind("tools", stream_id(request_id), min_position, 0)
        await asyncio.sleep(0.01)
    return row


@router.get(
    "/tool-executions/{request_id}",
    operation_id="getToolExecution",
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


class ToolExecutionList(BaseModel):
    items: list[ToolExecutionOut]


@router.get(
    "/sessions/{session_id}/tool-executions",
    operation_id="listSessionToolExecutions",
    response_model=ToolExecutionList,
    summary="A session's tool executions in the order they were requested",
    responses=responses(404),
)
async def list_session_executions(session_id: SessionId, svc: ServicesDep, who: CallerDep) -> ToolExecutionList:
    await owned_session(svc, who, session_id)
    ids = await svc.reads.tool_executions(session_id)
    rows = await asyncio.gather(*(svc.reads.tool_execution(request_id) for request_id in ids))
    found = [(UUID(i), row) for i, row in zip(ids, rows, strict=True) if row and row.get("tenant_id") == who.tenant_id]
    return ToolExecutionList(items=[_execution(row, request_id) for request_id, row in found])


def _approver(who: Caller) -> Caller:
    if not set(APPROVER_SCOPES) & who.scopes:
        raise ApiError(403, "forbidden", "approving or denying a tool execution needs the 'approve' or 'admin' scope")
    return who


@router.post(
    "/tool-executions/{request_id}/approve",
    operation_id="approveToolExecution",
    status_code=202,
    response_model=Recorded,
    summary="Approve a tool execution awaiting approval; the executor runs it (scope `approve` or `admin`); "
    "409 once it is decided, ended, or past its approval deadline",
    responses=responses(400, 403, 404, 409, 413, 415),
)
async def approve(
    request_id: RequestId,
    svc: ServicesDep,
    who: CallerDep,
    ctx: ContextDep,
    response: Response,
    body: ApprovalIn | None = None,
) -> dict[str, object]:
    approver, note = _approver(who).subject, body.note if body else ""
    approval = ApproveTool(request_id=request_id, approved_by=approver, note=note, decided_at=ctx.occurred_at)
    result = await approve_tool(svc.store, ctx, approval)
    response.headers["Location"] = _location(request_id)
    return recorded(result)


@router.post(
    "/tool-executions/{request_id}/deny",
    operation_id="denyToolExecution",
    status_code=202,
    response_model=Recorded,
    summary="Deny a tool execution awaiting approval; it ends denied (scope `approve` or `admin`); "
    "409 once it is decided, ended, or past its approval deadline",
    responses=responses(400, 403, 404, 409, 413, 415),
)
async def deny(
    request_id: RequestId,
    svc: ServicesDep,
    who: CallerDep,
    ctx: ContextDep,
    response: Response,
    body: DenialIn | None = None,
) -> dict[str, object]:
    reason = (body or DenialIn()).reason
    denial = DenyTool(
        request_id=request_id,
        reason=reason,
        policy=HUMAN_APPROVAL,
        denied_by=_approver(who).subject,
        decided_at=ctx.occurred_at,
    )
    result = await deny_tool(svc.store, ctx, denial)
    response.headers["Location"] = _location(request_id)
    return recorded(result)
