"""Delegation-task commands as services; another tenant's task is NotFound."""

from __future__ import annotations

from domain.delegation.aggregate import (
    DECIDER,
    complete,
    create,
    fail,
    record_callback_delivered,
    record_callback_failed,
    start,
    stream_id,
)
from domain.service import command

create_task = command(DECIDER, lambda c: stream_id(c.task_id), create, retries=0, check_tenant=True, creates=True)
start_task = command(DECIDER, lambda c: stream_id(c.task_id), start, retries=0, check_tenant=True)
complete_task = command(DECIDER, lambda c: stream_id(c.task_id), complete, retries=0, check_tenant=True)
fail_task = command(DECIDER, lambda c: stream_id(c.task_id), fail, retries=0, check_tenant=True)
callback_delivered = command(DECIDER, lambda c: stream_id(c.task_id), record_callback_delivered, check_tenant=True)
callback_failed = command(DECIDER, lambda c: stream_id(c.task_id), record_callback_failed, check_tenant=True)
