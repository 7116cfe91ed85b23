"""The tool executor: every request on tool.requests gets policy's decision, then, if allowed (or once a person
approved it), the run and its one outcome.

Exactly one outcome. The tool aggregate takes one decision and one outcome per request and refuses
a second (ToolAlreadyDecided, ToolOutcomeAlreadyRecorded): a redelivered request, or one handled
by two executors at once, records nothing twice, and the refusal means "done". What can happen
twice is the run itself, when an executor dies between a run and its outcome: tools are run at
least once and recorded exactly once (tools with effects must tolerate a repeat; echo,
calculator, timestamp and http_fetch's GET do).

Time. A run has the request's `timeout_ms`, counted from when the executor takes it up (waiting
for one of the `max_concurrent` slots included); past it the outcome is a timeout. A run on a
thread (a tool whose `run` is a plain function) cannot be stopped: its outcome is the timeout
and the thread finishes on its own, still holding its slot, so no more than `max_concurrent`
tools ever run at once. Waiting for a person's approval has a deadline, `approval_timeout` seconds
after policy asked for it, recorded with the request (ToolApprovalRequested.expires_at): until then
it waits as `awaiting_approval` for POST .../approve or /deny; past it, it ends timed out
(workers/tools/deadlines.py records that, and the domain refuses a person's late decision).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from domain.events import CommandContext, RecordedEvent, TraceContext
from domain.service import EventStore
from domain.tool.aggregate import DECIDER, ToolExecution, stream_id
from domain.tool.commands import AllowTool, AskApproval, CompleteTool, DenyTool, FailTool, TimeOutTool
from domain.tool.errors import ToolAlreadyDecided, ToolOutcomeAlreadyRecorded
from domain.tool.events import ToolApproved, ToolRequested
from domain.tool.service import (
    allow_tool,
    ask_approval_of_tool,
    complete_tool,
    deny_tool,
    fail_tool,
    time_out_tool,
)
from observability import tracing
from workers.runtime import Delivered
from workers.tools.policy import Decision, Policy
from workers.tools.registry import Call, Registry, Tool, ToolError

log = logging.getLogger("agentlog.workers.tools")
DECISIONS = Counter("agentlog_tool_decisions", "Policy decisions on tool calls (deny: a policy denial)", ["verdict"])
# `tool` is a tool this executor runs, or "unknown": a caller's made-up name never becomes a label
OUTCOMES = Counter("agentlog_tool_outcomes", "Tool runs by tool and outcome (completed, failed, timed_out)",
                   ["tool", "outcome"])  # fmt: skip
DURATION = Histogram(
    "agentlog_tool_run_duration_seconds",
    "Time a tool run took, to its outcome",
    ["tool"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTCOME_LABELS = {"CompleteTool": "completed", "FailTool": "failed", "TimeOutTool": "timed_out"}
_RUN_HERE: set[str] = set()  # the tools an executor of this process runs: the only tool labels


def tool_label(name: str) -> str:
    """`name` as a metric label: itself when an executor of this process runs it, else "unknown"."""
    return name if name in _RUN_HERE else "unknown"


Outcome = CompleteTool | FailTool | TimeOutTool


class Executor:
    """Decides on and runs tool requests, recording through the tool services (see the module docstring)."""

    def __init__(
        self,
        store: EventStore,
        policy: Policy,
        tools: Registry,
        *,
        max_concurrent: int = 8,
        approval_timeout: float = 3600.0,
    ) -> None:
        self.store = store
        self.policy = policy
        self.tools = tools
        _RUN_HERE.update(tools.names())
        self.approval_timeout = timedelta(seconds=approval_timeout)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._threads = ThreadPoolExecutor(max_concurrent, thread_name_prefix="agentlog-tool")

    async def handle(self, delivered: Delivered) -> None:
        """The worker's handler: a request is decided on and, if it may, run; an approval runs its request."""
        recorded = delivered.recorded
        if not isinstance(recorded.event, ToolRequested | ToolApproved):
            return
        state = await self._load(recorded, fresh=True)  # another process (the API) may have written since
        if state is None or state.outcome is not None:
            return  # a redelivery: the outcome stands
        if state.decision is None and isinstance(recorded.event, ToolRequested):
            with tracing.span("policy.decide", delivered.trace_parent, attributes=_about(recorded, state)):
                state = await self._decide(recorded, state)
        if state is not None and state.may_run:
            name = state.tool_name if self.tools.get(state.tool_name) else "unknown"  # a caller's name is no span name
            with tracing.span(f"tool.run {name}", delivered.trace_parent, attributes=_about(recorded, state)):
                await self._run(recorded, state)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _load(self, recorded: RecordedEvent, *, fresh: bool) -> ToolExecution | None:
        request_id = getattr(recorded.event, "request_id")  # noqa: B009 - both event types carry it
        loaded = await self.store.load(DECIDER, stream_id(request_id), recorded.meta.tenant_id, fresh=fresh)
        return loaded[0]

    async def _decide(self, recorded: RecordedEvent, state: ToolExecution) -> ToolExecution | None:
        """Record policy's decision and return the state after it (a tool that does not exist is policy's to
        judge first, then fails as it runs)."""
        decision = await self.policy.decide(recorded.meta.tenant_id, _input(recorded, state))
        DECISIONS.labels(decision.verdict).inc()
        tracing.annotate(**{"agentlog.verdict": decision.verdict, "agentlog.policy": decision.policy})
        log.info("%s %s for %s: %s (%s)", decision.verdict, state.tool_name, state.request_id, decision.reason,
                 decision.policy)  # fmt: skip
        context = _context(recorded)
        command = _decision_command(state, decision, context.occurred_at + self.approval_timeout)
        try:
            await _decision_service(decision)(self.store, context, command)
        except (ToolAlreadyDecided, ToolOutcomeAlreadyRecorded):
            log.info("%s was decided already: going by the recorded decision", state.request_id)
        return await self._load(recorded, fresh=False)

    async def _run(self, recorded: RecordedEvent, state: ToolExecution) -> None:
        tool = self.tools.get(state.tool_name)
        started = time.monotonic()
        if tool is None:
            error = f"no tool named {state.tool_name!r}; this executor runs: {', '.join(self.tools.names())}"
            outcome: Outcome = FailTool(request_id=state.request_id, error=error, duration_ms=0)
        else:
            call = Call(state.request_id, recorded.meta.tenant_id, state.session_id, started + state.timeout_ms / 1000)
            outcome = await self._outcome(tool, state, call)
        label = tool_label(state.tool_name)
        OUTCOMES.labels(label, OUTCOME_LABELS[type(outcome).__name__]).inc()
        DURATION.labels(label).observe(time.monotonic() - started)
        await self._record(recorded, outcome)

    async def _outcome(self, tool: Tool, state: ToolExecution, call: Call) -> Outcome:
        """Run the tool within the request's time and say how it went."""
        started = time.monotonic()
        request_id = state.request_id
        try:
            async with asyncio.timeout(state.timeout_ms / 1000) as window:
                result = await self._call(tool, _arguments(state.arguments_json), call)
            result_json = _json(result)
        except TimeoutError:
            if window.expired():
                return TimeOutTool(request_id=request_id, duration_ms=_since(started))
            return FailTool(request_id=request_id, error="the tool timed out on its own", duration_ms=_since(started))
        except ToolError as e:
            return FailTool(request_id=request_id, error=str(e) or type(e).__name__, duration_ms=_since(started))
        except Exception as e:  # a tool's own bug is its failure, recorded; the executor goes on
            log.exception("tool %r failed on request %s", tool.name, request_id)
            error = f"the tool failed: {type(e).__name__}: {e}"[:2000]
            return FailTool(request_id=request_id, error=error, duration_ms=_since(started))
        return CompleteTool(request_id=request_id, result_json=result_json, duration_ms=_since(started))

    async def _call(self, tool: Tool, arguments: Mapping[str, Any], call: Call) -> Any:
        """Run in one of the slots: a coroutine until it ends or is cancelled, a thread until it ends (cancelling
        the wait does not stop a thread, so its slot is freed only when it returns)."""
        if inspect.iscoroutinefunction(tool.run):
            async with self._slots:
                return await tool.run(arguments, call)
        await self._slots.acquire()
        loop = asyncio.get_running_loop()
        try:
            future = self._threads.submit(tool.run, arguments, call)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._slots.release))
        return await asyncio.wrap_future(future)

    async def _record(self, recorded: RecordedEvent, outcome: Outcome) -> None:
        service = {CompleteTool: complete_tool, FailTool: fail_tool, TimeOutTool: time_out_tool}[type(outcome)]
        try:
            await service(self.store, _context(recorded), outcome)  # type: ignore[operator]
        except ToolOutcomeAlreadyRecorded as e:
            log.info("%s already had its outcome (%s): the first stands", e.request_id, e.outcome)


def _decision_service(decision: Decision) -> Any:
    return {"allow": allow_tool, "approve": ask_approval_of_tool, "deny": deny_tool}[decision.verdict]


def _decision_command(
    state: ToolExecution, decision: Decision, approval_expires_at: datetime
) -> AllowTool | AskApproval | DenyTool:
    request_id, reason, policy = state.request_id, decision.reason, decision.policy
    if decision.verdict == "allow":
        return AllowTool(request_id=request_id, reason=reason, policy=policy)
    if decision.verdict == "approve":
        return AskApproval(request_id=request_id, reason=reason, policy=policy, expires_at=approval_expires_at)
    return DenyTool(request_id=request_id, reason=reason, policy=policy)


def _input(recorded: RecordedEvent, state: ToolExecution) -> dict[str, Any]:
    """The document policy decides on."""
    return {
        "tenant": recorded.meta.tenant_id,
        "tool": state.tool_name,
        "arguments": json.loads(state.arguments_json),
        "request_id": str(state.request_id),
        "session_id": str(state.session_id) if state.session_id else None,
        "timeout_ms": state.timeout_ms,
    }


def _context(recorded: RecordedEvent) -> CommandContext:
    """The context of what the executor records because of `recorded`: same tenant and correlation, caused by it."""
    meta = recorded.meta
    return CommandContext(
        tenant_id=meta.tenant_id,
        correlation_id=meta.correlation_id,
        occurred_at=datetime.now(UTC),
        causation_id=meta.event_id,
        trace=TraceContext(traceparent=traceparent) if (traceparent := tracing.traceparent_of()) else meta.trace,
    )


def _about(recorded: RecordedEvent, state: ToolExecution) -> dict[str, object]:
    """What the executor's spans say: the request (OpenTelemetry's gen_ai.tool.* names) and its tenant."""
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": state.tool_name,
        "gen_ai.tool.call.id": str(state.request_id),
        "agentlog.tenant": recorded.meta.tenant_id,
        "agentlog.stream_id": recorded.meta.stream_id,
        "agentlog.event_type": recorded.event.type_name(),
    }


def _arguments(arguments_json: str) -> Mapping[str, Any]:
    arguments = json.loads(arguments_json)
    if not isinstance(arguments, dict):
        raise ToolError(f"arguments must be a JSON object, not {arguments_json[:100]}")
    return arguments


def _json(result: object) -> str:
    try:
        return json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ToolError(f"the tool's result is not JSON: {e}") from None


def _since(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
