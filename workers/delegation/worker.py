"""The delegation worker's handler: an ended task with a callback URL gets its outcome POSTed, then recorded.

Driven by `delegation.tasks`. For a DelegationTaskCompleted or DelegationTaskFailed event it
reads the task's stream (fresh from the store, not a remembered state), and unless the task has no
callback URL or its callback already has an outcome, it delivers the callback (delivery.py) and
records the outcome: DelegationCallbackDelivered (with the 2xx status), or once it gave up, one
DelegationCallbackFailed whose `attempt` is the number of attempts made and whose `error` is the
last one. Single attempts are not recorded (they are logged); the outcome is.

Redelivery: an ending event read again after its outcome was recorded sends nothing. A worker
killed between sending and recording sends again on restart, under the same webhook-id and with the
same body (message.py), which is what lets a receiver drop the duplicate. Both records carry
idempotency keys derived from the ending event, and a store outage while recording is waited out
without sending again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import httpx
import stamina
from standardwebhooks import Webhook

from contracts.codec import EventCodec
from domain.delegation.aggregate import DECIDER
from domain.delegation.commands import RecordCallbackDelivered, RecordCallbackFailed
from domain.delegation.service import callback_delivered, callback_failed
from domain.events import CommandContext, RecordedEvent
from domain.service import EventStore
from workers.delegation.delivery import Outcome, Sender
from workers.delegation.message import ENDINGS, callback_message
from workers.delegation.settings import DelegationSettings
from workers.runtime import OUTAGES, Delivered, Handler, key_for
from workers.settings import WorkerSettings

log = logging.getLogger("agentlog.workers.delegation")


class TaskStore(EventStore, Protocol):
    """The event store as the worker needs it: commands, and a task's events as stored."""

    async def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """Every event of the stream, with its metadata, in version order, read from the store now."""
        ...


class Callbacks:
    """Handles `delegation.tasks` events: sends each ended task's callback once it is due (see the module)."""

    def __init__(
        self, store: TaskStore, sender: Sender, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock

    async def handle(self, delivered: Delivered) -> None:
        ended = delivered.recorded
        if not isinstance(ended.event, ENDINGS):
            return
        history = await self.store.read_stream(ended.meta.stream_id)
        task = DECIDER.fold(r.event for r in history)
        if task is None or task.callback_url is None:
            return
        if task.callback_delivered or task.callback_attempts > 0:
            log.info("callback of task %s already has its outcome; nothing sent", task.task_id)
            return
        message = callback_message(history[: ended.meta.stream_version], ended)
        await self.record(ended, await self.sender.deliver(message))

    async def record(self, ended: RecordedEvent, outcome: Outcome) -> None:
        """Record the outcome, waiting out store outages (the callback is not sent again for them)."""
        task_id = ended.event.task_id  # type: ignore[attr-defined]  # a delegation event
        async for attempt in stamina.retry_context(on=OUTAGES, attempts=None, timeout=None, wait_max=5.0):
            with attempt:
                if outcome.delivered:
                    command = RecordCallbackDelivered(task_id=task_id, status_code=outcome.status_code or 200)
                    await callback_delivered(self.store, self._context(ended, "callback-delivered"), command)
                else:
                    failed = RecordCallbackFailed(task_id=task_id, error=outcome.error, attempt=outcome.attempts)
                    await callback_failed(self.store, self._context(ended, "callback-failed"), failed)

    def _context(self, ended: RecordedEvent, step: str) -> CommandContext:
        meta = ended.meta
        return CommandContext(
            tenant_id=meta.tenant_id,
            correlation_id=meta.correlation_id,
            causation_id=meta.event_id,
            occurred_at=self.clock(),
            trace=meta.trace,
            idempotency_key=key_for(ended, step),
        )


async def make_handler(settings: WorkerSettings, store: TaskStore, codec: EventCodec) -> Handler:
    """The worker's handler over `store`, sending with one HTTP client for the process's life."""
    if not isinstance(settings, DelegationSettings):
        raise TypeError("the delegation worker runs on DelegationSettings")
    client = httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would bypass the pinned, judged address
        timeout=settings.worker_callback_timeout,
        limits=httpx.Limits(max_keepalive_connections=0),  # a pooled connection could outlive its judged address
    )
    webhook = Webhook(settings.worker_callback_secret.get_secret_value())
    return Callbacks(store, Sender(client, webhook, settings)).handle
