"""tools: tool executions by request id (status and result) and, per session, by request time."""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import TOOL_REQUESTS, TOOL_RESULTS
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from projections.apply import Op
from projections.views.base import Fold, Keys, View, by_type


def _tool_requested(r: Record, k: Keys) -> list[Op]:
    meta, session = r["meta"], r["session_id"]
    execution = k("execution", r["request_id"])
    fields = ["tool_name", r["tool_name"], "arguments_json", r["arguments_json"], "session_id", session or ""]
    ops: list[Op] = [
        ["HSET", execution, *fields, "tenant_id", meta["tenant_id"]],
        ["IFNEWER", execution, meta["stream_version"], "", "status", "requested"],
    ]
    if session:
        ops.append(["ZADD", k("by-session", session), meta["occurred_at"], r["request_id"]])
    return ops


def _tool_outcome(outcome: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        status = "timed_out" if r.get("timed_out") else outcome
        fields = [f for name, v in r.items() if name not in ("meta", "request_id", "tool_name") for f in (name, str(v))]
        return [
            ["IFNEWER", k("execution", r["request_id"]), r["meta"]["stream_version"], "", "status", status, *fields]
        ]

    return fold


VIEW = View(
    "tools",
    (TOOL_REQUESTS, TOOL_RESULTS),
    by_type(
        {
            ToolRequested: _tool_requested,
            ToolDenied: _tool_outcome("denied"),
            ToolCompleted: _tool_outcome("completed"),
            ToolFailed: _tool_outcome("failed"),
        }
    ),
)
