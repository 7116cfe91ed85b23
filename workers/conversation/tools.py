"""The conversation's side of a tool call: the tools offered to the model, and waiting for an outcome.

Outcomes are read from the tool's own stream in the event store (never a read model), polled with
backoff: the executor records exactly one outcome per request within its timeout, and ends a call
nobody approved by its approval deadline. The wait is bounded all the same (timeout + grace, after
the approval deadline when a person decides), so a missing executor cannot hold a conversation
forever; a call without an outcome by then is answered as "no outcome" and the execution itself is
left to the executor.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from domain.tool.aggregate import DECIDER, ToolDecision, ToolExecution, stream_id
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed
from eventstore.store import PostgresEventStore
from workers.conversation.responder import ToolSpec
from workers.tools.settings import ToolSettings
from workers.tools.worker import tool_registry

POLL_FIRST, POLL_MAX = 0.02, 0.5  # seconds between looks at the tool streams: doubling from the first to the most


@functools.cache
def offered_tools() -> tuple[ToolSpec, ...]:
    """The tools the model is offered: those the tool executor runs (its built-ins and every tool
    installed under the `agentlog.tools` entry-point group), as the registry describes them. Read once
    per process, like the executor's registry: a tool installed later is offered after a restart."""
    return tuple(ToolSpec(t.name, t.description, dict(t.parameters)) for t in tool_registry(ToolSettings()))


async def outcomes(
    store: PostgresEventStore,
    requests: Sequence[UUID],
    tenant_id: str,
    wait: Callable[[ToolExecution], float],
    cancelled: Callable[[], Awaitable[bool]],
) -> dict[UUID, str] | None:
    """Each request's outcome as the model is told it (see `told`), once all have one or their wait
    (`wait(execution)` seconds from now) ran out; None as soon as `cancelled()` says the reply stopped."""
    found: dict[UUID, str] = {}
    started, pause = time.monotonic(), POLL_FIRST
    while True:
        if await cancelled():
            return None
        for request in requests:
            if request not in found:
                outcome = await _outcome(store, request, tenant_id, wait, started)
                if outcome is not None:
                    found[request] = outcome
        if len(found) == len(requests):
            return found
        await asyncio.sleep(pause)
        pause = min(pause * 2, POLL_MAX)  # quick for fast tools, gentle on the store for slow ones


async def _outcome(
    store: PostgresEventStore, request: UUID, tenant_id: str, wait: Callable[[ToolExecution], float], started: float
) -> str | None:
    state = (await store.load(DECIDER, stream_id(request), tenant_id, fresh=True))[0]
    if state is None:
        return None
    if state.outcome is not None:
        return told((await store.read_stream(stream_id(request)))[-1].event)
    waited = time.monotonic() - started
    if waited >= wait(state):
        awaiting = state.decision is ToolDecision.AWAITING_APPROVAL
        return f"no outcome: {'not approved' if awaiting else 'none recorded'} within {waited:.0f} s"
    return None


def told(event: object) -> str:
    """An outcome as the model is told it: the JSON result, or "failed: ...", "timed out: ...", "denied: ..."."""
    match event:
        case ToolCompleted():
            return event.result_json
        case ToolFailed(timed_out=True):
            return f"timed out: {event.error}"
        case ToolFailed():
            return f"failed: {event.error}"
        case ToolDenied():
            return f"denied: {event.reason}"
    return f"failed: unexpected outcome {type(event).__name__}"


def wait_for(
    timeout_ms: int, grace: float, approval_wait: float, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[ToolExecution], float]:
    """How long to wait for an execution, in seconds from now: its timeout plus `grace`; for one a person decides
    on, until the approval deadline recorded with it (the executor ends it timed out then), then its timeout plus
    `grace`; `approval_wait` while one recorded without a deadline awaits approval."""
    started = now()

    def wait(state: ToolExecution) -> float:
        run = max(state.timeout_ms, timeout_ms) / 1000 + grace
        if state.approval_expires_at is not None:  # awaiting or approved: its outcome is due by the deadline + a run
            return (state.approval_expires_at - started).total_seconds() + run
        if state.decision is ToolDecision.AWAITING_APPROVAL:
            return approval_wait
        return run

    return wait
