"""The delegation view: each task's status and outcome, a tenant's tasks by status, callback outcomes."""

from __future__ import annotations

import uuid

from domain.delegation import events as d
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, recorded

URL = "https://example.com/hook"


def folded(*events) -> Folded:
    return Folded(VIEWS["delegation"], Keys("p:", "delegation")).fold(events)


def lifecycle(task: uuid.UUID) -> list:
    return [
        recorded(d.DelegationTaskCreated(task_id=task, title="t", instructions="do", callback_url=URL), task, 1),
        recorded(d.DelegationTaskStarted(task_id=task, worker="w1"), task, 2),
        recorded(d.DelegationTaskCompleted(task_id=task, result="ok"), task, 3),
    ]


def test_a_task_shows_its_fields_and_its_newest_status():
    task = uuid.uuid4()

    assert folded(*lifecycle(task))("task", task) == {
        "_version": "3",
        "tenant_id": "acme",
        "status": "completed",
        "title": "t",
        "instructions": "do",
        "callback_url": URL,
        "worker": "w1",
        "result": "ok",
    }


def test_a_tenants_tasks_are_indexed_by_their_current_status_only():
    done, running = uuid.uuid4(), uuid.uuid4()
    view = folded(*lifecycle(done), *lifecycle(running)[:2])

    assert view("status", "acme", "completed") == {str(done)}
    assert view("status", "acme", "running") == {str(running)}
    assert view("status", "acme", "queued") is None


def test_callback_outcomes_are_kept_apart_from_the_tasks_own_fields():
    task = uuid.uuid4()
    failed = recorded(d.DelegationTaskFailed(task_id=task, error="crashed"), task, 3)
    callback = d.DelegationCallbackFailed(task_id=task, callback_url=URL, error="timeout", attempt=2)
    view = folded(*lifecycle(task)[:2], failed, recorded(callback, task, 4))

    fields = view("task", task)
    assert (fields["status"], fields["error"]) == ("failed", "crashed")
    assert (fields["callback_error"], fields["callback_attempt"], fields["callback_url"]) == ("timeout", "2", URL)
    delivered = d.DelegationCallbackDelivered(task_id=task, callback_url=URL, status_code=204)
    assert folded(*lifecycle(task), recorded(delivered, task, 4))("task", task)["callback_status_code"] == "204"
