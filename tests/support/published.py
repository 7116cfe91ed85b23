"""Events written to the store while a relay publishes, and the check that Kafka holds each once, in stream order."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from domain.errors import ConcurrencyConflict
from domain.events import CommandContext
from domain.session.events import MessagePosted, Role, SessionStarted
from tests.support.kafka import header


def context() -> CommandContext:
    return CommandContext(tenant_id="acme", correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def write(store, streams: list[uuid.UUID], commands: int) -> None:
    """Append `commands` events to random streams, starting a stream on first use, retrying conflicts."""
    for _ in range(commands):
        session = random.choice(streams)
        while True:
            version = await store.pool.fetchval(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", str(session)
            )
            event = (
                SessionStarted(session_id=session, tenant_id="acme")
                if version == 0
                else MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text="hi")
            )
            try:
                await store.append(str(session), "session", version, [event], context())
                break
            except ConcurrencyConflict:  # another writer took this version: try the next one
                continue


async def stored(store) -> dict[str, tuple[str, int]]:
    rows = await store.pool.fetch("SELECT event_id, stream_id, version FROM events")
    return {str(r["event_id"]): (r["stream_id"], r["version"]) for r in rows}


def assert_complete_and_in_stream_order(messages, events: dict[str, tuple[str, int]]) -> None:
    """Every stored event on Kafka exactly once, each stream's events in version order."""
    seen: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        event_id = header(message, "event_id")
        stream, version = events[event_id]
        assert message.key().decode() == stream
        seen[stream].append(version)
    duplicated = [(s, v) for s, versions in seen.items() for v in set(versions) if versions.count(v) > 1]
    assert not duplicated, f"published more than once: {duplicated[:10]}"
    assert sum(len(v) for v in seen.values()) == len(events)
    for stream, versions in seen.items():
        assert versions == sorted(versions), f"stream {stream} published out of order: {versions}"
