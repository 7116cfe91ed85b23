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
from domain.delegation.commands import CreateDelegationTask
from domain.events import AppendResult, CommandContext
from domain.references import require_session
from domain.service import EventStore, command

_create_task = command(DECIDER, lambda c: stream_id(c.task_id), create, retries=0, creates=True)
start_task = command(DECIDER, lambda c: stream_id(c.task_id), start, retries=0)
complete_task = command(DECIDER, lambda c: stream_id(c.task_id), complete, retries=0)
fail_task = command(DECIDER, lambda c: stream_id(c.task_id), fail, retries=0)
callback_delivered = command(DECIDER, lambda c: stream_id(c.task_id), record_callback_delivered)
callback_failed = command(DECIDER, lambda c: stream_id(c.task_id), record_callback_failed)


async def create_task(store: EventStore, context: CommandContext, cmd: CreateDelegationTask) -> AppendResult:
    """Queue the task; its `parent_session_id`, if any, must be a session of the context's tenant
    (InvalidCommand("parent_session_id") otherwise)."""
    if cmd.parent_session_id is not None:
        await require_session(store, "parent_session_id", cmd.parent_session_id, context.tenant_id)
    return await _create_task(store, context, cmd)
