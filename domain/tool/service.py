"""Tool-execution commands as services; another tenant's execution is NotFound."""

from __future__ import annotations

from domain.service import command
from domain.tool.aggregate import DECIDER, complete, deny, fail, request, stream_id, time_out

request_tool = command(DECIDER, lambda c: stream_id(c.request_id), request, retries=0, check_tenant=True, creates=True)
deny_tool = command(DECIDER, lambda c: stream_id(c.request_id), deny, retries=0, check_tenant=True)
complete_tool = command(DECIDER, lambda c: stream_id(c.request_id), complete, retries=0, check_tenant=True)
fail_tool = command(DECIDER, lambda c: stream_id(c.request_id), fail, retries=0, check_tenant=True)
time_out_tool = command(DECIDER, lambda c: stream_id(c.request_id), time_out, retries=0, check_tenant=True)
