"""A task's callback message: the JSON body, built from the task's events, and its Standard Webhooks headers.

The body is a pure function of the task's events, so every attempt and every redelivery of the
ending event sends the same bytes under the same `webhook-id` (`msg_` and the id of the event that
ended the task): a receiver that remembers the ids it processed processes each outcome once.
Only `webhook-timestamp` and the signature over it change from one attempt to the next.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from math import floor

from standardwebhooks import Webhook

from domain.delegation.events import (
    DelegationTaskCompleted,
    DelegationTaskCreated,
    DelegationTaskFailed,
    DelegationTaskStarted,
)
from domain.events import RecordedEvent

ENDINGS = (DelegationTaskCompleted, DelegationTaskFailed)


@dataclass(frozen=True)
class CallbackMessage:
    """One task's outcome as sent: the same `webhook_id` and `body` on every attempt."""

    webhook_id: str
    url: str
    body: str


def webhook_id(ended: RecordedEvent) -> str:
    """The message id of the callback caused by `ended`: stable across attempts and redeliveries."""
    return f"msg_{ended.meta.event_id}"


def callback_message(history: Sequence[RecordedEvent], ended: RecordedEvent) -> CallbackMessage:
    """The callback of the task whose events are `history` (first the creation), ended by `ended`.

    Raises ValueError when `ended` does not end a task or the task has no callback URL.
    """
    created = history[0].event
    if not isinstance(created, DelegationTaskCreated) or created.callback_url is None:
        raise ValueError(f"task {ended.meta.stream_id} has no callback URL")
    outcome = ended.event
    if not isinstance(outcome, ENDINGS):
        raise ValueError(f"{outcome.type_name()} does not end a task")
    started = next((r for r in history if isinstance(r.event, DelegationTaskStarted)), None)
    status = "completed" if isinstance(outcome, DelegationTaskCompleted) else "failed"
    data = {
        "task_id": str(outcome.task_id),
        "tenant_id": ended.meta.tenant_id,
        "status": status,
        "result": outcome.result if isinstance(outcome, DelegationTaskCompleted) else None,
        "error": outcome.error if isinstance(outcome, DelegationTaskFailed) else None,
        "title": created.title,
        "parent_session_id": str(created.parent_session_id) if created.parent_session_id else None,
        "worker": started.event.worker if started and isinstance(started.event, DelegationTaskStarted) else None,
        "created_at": _iso(history[0].meta.occurred_at),
        "started_at": _iso(started.meta.occurred_at) if started else None,
        "ended_at": _iso(ended.meta.occurred_at),
    }
    body = {"type": f"delegation.task.{status}", "timestamp": data["ended_at"], "data": data}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return CallbackMessage(webhook_id(ended), created.callback_url, text)


def signed_headers(webhook: Webhook, message: CallbackMessage, at: datetime) -> dict[str, str]:
    """The headers of one attempt sent at `at`: webhook-id, webhook-timestamp (Unix seconds) and
    webhook-signature (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`)."""
    at = at.astimezone(UTC)  # the library reads the time it signs as UTC
    return {
        "content-type": "application/json",
        "user-agent": f"agentlog/{metadata.version('agentlog')} (delegation callbacks)",
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": webhook.sign(message.webhook_id, at, message.body),
    }


def _iso(at: datetime) -> str:
    """An instant in ISO 8601, UTC, with a Z (as the Standard Webhooks examples write it)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
