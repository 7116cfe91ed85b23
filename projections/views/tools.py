"""tools: tool executions by request id (status, decision, approval and outcome) and, per session, by request time.

Status follows the stream version (IFNEWER), whichever topic delivers first: requested, running
(allowed by policy or approved by a person), awaiting_approval, then the outcome. The decision's
and the approval's own fields are set whenever they arrive (HSET): they never change once written.
"""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import TOOL_REQUESTS, TOOL_RESULTS
from domain.tool.events import (
    ToolAllowed,
    ToolApprovalRequested,
    ToolApproved,
    ToolCompleted,
    ToolDenied,
    ToolFailed,
    ToolRequested,
)
from projections.apply import Op
from projections.views.base import Fold, Keys, View, by_type, iso


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


def _status(r: Record, k: Keys, status: str, *fields: str) -> list[Op]:
    execution = k("execution", r["request_id"])
    ops: list[Op] = [["IFNEWER", execution, r["meta"]["stream_version"], "", "status", status]]
    return [["HSET", execution, *fields], *ops] if fields else ops


def _decided(verdict: str, status: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        return _status(
            r, k, status, "decision", verdict, "decision_reason", r["reason"], "decision_policy", r["policy"]
        )

    return fold


def _asked(r: Record, k: Keys) -> list[Op]:
    """Policy's decision to ask a person, with the deadline after which the call ends timed out (if recorded)."""
    ops = _decided("approve", "awaiting_approval")(r, k)
    if expires_at := r.get("expires_at"):
        ops.insert(0, ["HSET", k("execution", r["request_id"]), "approval_expires_at", iso(expires_at)])
    return ops


def _approved(r: Record, k: Keys) -> list[Op]:
    return _status(r, k, "running", "approver", r["approved_by"], "approval_note", r.get("note") or "")


def _denied(r: Record, k: Keys) -> list[Op]:
    """A denial by policy is also its decision; a denial by a person is the answer to the approval it awaited."""
    ops: list[Op]
    if r.get("denied_by"):
        ops = [["HSET", k("execution", r["request_id"]), "approver", r["denied_by"], "approval_note", r["reason"]]]
    else:
        ops = _decided("deny", "denied")(r, k)[:1]
    return [*ops, *_tool_outcome("denied")(r, k)]


def _tool_outcome(outcome: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        status = "timed_out" if r.get("timed_out") else outcome
        fields = [
            f
            for name, v in r.items()
            if name not in ("meta", "request_id", "tool_name") and v is not None
            for f in (name, str(v))
        ]
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
            ToolAllowed: _decided("allow", "running"),
            ToolApprovalRequested: _asked,
            ToolApproved: _approved,
            ToolDenied: _denied,
            ToolCompleted: _tool_outcome("completed"),
            ToolFailed: _tool_outcome("failed"),
        }
    ),
)
