"""Approval deadlines: a tool execution still awaiting a person's approval past its deadline ends timed out, recorded
by the tool executor's process (`agentlog worker tools`).

Found in the event store, never remembered: every look (each `tools_approval_check_s` seconds) reads
the executions whose newest event is still their ToolApprovalRequested, so a deadline that passed
while no executor ran is enforced by the first look of the next one to start, and executors may look
side by side. Each candidate is offered the time of the look; whether it is due, and the one outcome,
are the aggregate's rules (`ToolExecution.approval_due`, `expire_approval`): a person who decided
first, or another executor that recorded the timeout first, makes the attempt a refusal, ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from domain.events import CommandContext
from domain.tool.aggregate import DECIDER, stream_id
from domain.tool.commands import ExpireApproval
from domain.tool.errors import ApprovalNotDue, ToolNotAwaitingApproval, ToolOutcomeAlreadyRecorded
from domain.tool.events import ToolApprovalRequested
from domain.tool.service import expire_approval_of_tool
from eventstore.queries import streams_ending_with
from eventstore.store import PostgresEventStore
from workers.runtime import TRANSIENT
from workers.settings import WorkerSettings
from workers.tools.executor import OUTCOMES, tool_label
from workers.tools.settings import ToolSettings

log = logging.getLogger("agentlog.workers.tools")
DECIDED_SINCE = (ApprovalNotDue, ToolNotAwaitingApproval, ToolOutcomeAlreadyRecorded)  # nothing to record
WAIT: tuple[type[Exception], ...] = TRANSIENT  # an outage, or a race lost to a person: the next look tries again


class Deadlines:
    """Ends the executions whose approval deadline passed (see the module docstring)."""

    def __init__(self, store: PostgresEventStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock

    async def enforce(self) -> list[UUID]:
        """One look: record the timeout of every execution past its approval deadline; returns their ids."""
        waiting = await streams_ending_with(self.store.pool, ToolApprovalRequested.type_name())
        ended = []
        for row in waiting:
            if await self._expire(row, self.clock()):
                ended.append(UUID(row["stream_id"]))
        return ended

    async def _expire(self, asked: asyncpg.Record, now: datetime) -> bool:
        request_id = UUID(asked["stream_id"])
        state = (await self.store.load(DECIDER, stream_id(request_id), asked["tenant_id"]))[0]  # from memory is fine:
        if state is None or not state.approval_due(now):  # a deadline never moves, and the command re-checks
            return False
        context = CommandContext(
            tenant_id=asked["tenant_id"],
            correlation_id=asked["correlation_id"],
            causation_id=asked["event_id"],
            occurred_at=now,
        )
        try:
            await expire_approval_of_tool(self.store, context, ExpireApproval(request_id=request_id, at=now))
        except DECIDED_SINCE as e:
            log.info("approval of %s decided before its deadline was enforced: %s", request_id, e)
            return False
        OUTCOMES.labels(tool_label(state.tool_name), "approval_expired").inc()
        log.info("%s for %s timed out: nobody approved or denied it by %s", state.tool_name, request_id,
                 state.approval_expires_at)  # fmt: skip
        return True

    async def run(self, stop: asyncio.Event, every: float) -> None:
        """Look every `every` seconds until `stop` is set; an outage (or a lost race) waits for the next look."""
        while not stop.is_set():
            try:
                await self.enforce()
            except WAIT as e:
                log.warning("approval deadlines not looked at (%s: %s); again in %.1f s", type(e).__name__, e, every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)


async def enforce_deadlines(settings: WorkerSettings, store: PostgresEventStore, stop: asyncio.Event) -> None:
    """What `agentlog worker tools` runs beside its handler: Deadlines, looking every tools_approval_check_s."""
    assert isinstance(settings, ToolSettings), "serve() builds ToolSettings for this worker"
    await Deadlines(store).run(stop, settings.tools_approval_check_s)
