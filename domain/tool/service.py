"""Tool-execution commands as services; another tenant's execution is NotFound."""

from __future__ import annotations

from domain.events import AppendResult, CommandContext
from domain.references import require_session
from domain.service import EventStore, command
from domain.tool.aggregate import (
    DECIDER,
    allow,
    approve,
    ask_approval,
    complete,
    deny,
    expire_approval,
    fail,
    request,
    stream_id,
    time_out,
)
from domain.tool.commands import RequestTool

_request_tool = command(DECIDER, lambda c: stream_id(c.request_id), request, retries=0, creates=True)
allow_tool = command(DECIDER, lambda c: stream_id(c.request_id), allow, retries=0)
ask_approval_of_tool = command(DECIDER, lambda c: stream_id(c.request_id), ask_approval, retries=0)
approve_tool = command(DECIDER, lambda c: stream_id(c.request_id), approve, retries=0)
deny_tool = command(DECIDER, lambda c: stream_id(c.request_id), deny, retries=0)
complete_tool = command(DECIDER, lambda c: stream_id(c.request_id), complete, retries=0)
fail_tool = command(DECIDER, lambda c: stream_id(c.request_id), fail, retries=0)
time_out_tool = command(DECIDER, lambda c: stream_id(c.request_id), time_out, retries=0)
expire_approval_of_tool = command(DECIDER, lambda c: stream_id(c.request_id), expire_approval, retries=0)


async def request_tool(store: EventStore, context: CommandContext, cmd: RequestTool) -> AppendResult:
    """Record the request; its `session_id`, if any, must be a session of the context's tenant
    (InvalidCommand("session_id") otherwise)."""
    if cmd.session_id is not None:
        await require_session(store, "session_id", cmd.session_id, context.tenant_id)
    return await _request_tool(store, context, cmd)
