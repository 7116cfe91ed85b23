"""Recorded events for codec and contract tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.events import EventMetadata, RecordedEvent
from domain.session.events import MessagePosted, Role


def message(text: object = "hello", **extra) -> RecordedEvent:
    """A user's MessagePosted at version 1 of a fresh session; `text` may be a wrong type on purpose."""
    session = uuid.uuid4()
    meta = EventMetadata(
        event_id=uuid.uuid4(),
        stream_id=str(session),
        stream_type="session",
        stream_version=1,
        tenant_id="acme",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        correlation_id=uuid.uuid4(),
    )
    event = MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text=text, **extra)  # type: ignore[arg-type]
    return RecordedEvent(meta=meta, event=event)
