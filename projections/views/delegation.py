"""delegation: tasks by id and, per tenant, by status (callback outcomes recorded on the task)."""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import DELEGATION_TASKS
from domain.delegation import events as delegation
from projections.apply import Op
from projections.views.base import Fold, Keys, View, by_type


def _task_fields(r: Record, prefix: str = "") -> list[str]:
    """The event's fields as text, `prefix`ed unless already a callback's own."""
    return [
        f
        for name, v in r.items()
        if name not in ("meta", "task_id") and v is not None
        for f in (name if name.startswith("callback_") else prefix + name, str(v))
    ]


def _task_status(status: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        meta, task = r["meta"], k("task", r["task_id"])
        index = k("status", meta["tenant_id"], "")
        return [
            ["HSET", task, "tenant_id", meta["tenant_id"]],
            ["IFNEWER", task, meta["stream_version"], index, "status", status, *_task_fields(r)],
        ]

    return fold


def _callback(r: Record, k: Keys) -> list[Op]:
    # a callback outcome's fields are kept apart (`callback_error`, not the task's own `error`); one
    # stream, one partition: callback outcomes arrive after the task's events
    return [["HSET", k("task", r["task_id"]), *_task_fields(r, "callback_")]]


VIEW = View(
    "delegation",
    (DELEGATION_TASKS,),
    by_type(
        {
            delegation.DelegationTaskCreated: _task_status("queued"),
            delegation.DelegationTaskStarted: _task_status("running"),
            delegation.DelegationTaskCompleted: _task_status("completed"),
            delegation.DelegationTaskFailed: _task_status("failed"),
            delegation.DelegationCallbackDelivered: _callback,
            delegation.DelegationCallbackFailed: _callback,
        }
    ),
)
