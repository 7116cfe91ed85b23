"""Consumer-side helpers for the message pacts: examples of each event as the relay publishes it, and matchers."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pact import Pact, match

from cli.relay_samples import samples
from contracts.convert import to_record
from contracts.messages import PROVIDER, STATE, description, to_content
from contracts.routing import Routing
from domain.events import EventMetadata, RecordedEvent

PACTS = Path(__file__).resolve().parents[2] / "contracts" / "pacts"
ROLES = frozenset({"user", "assistant", "system"})
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def recorded_samples() -> list[RecordedEvent]:
    """One recorded event of every type (cli/relay_samples.py), with fixed ids and times: the pact files stay put."""
    ids = (uuid.UUID(int=n) for n in itertools.count(1))
    found = []
    for stream in samples("acme", AT, lambda: next(ids)):
        for version, event in enumerate(stream.events, start=1):
            meta = EventMetadata(event_id=next(ids), stream_id=stream.stream_id, stream_type=stream.stream_type,
                                 stream_version=version, tenant_id="acme", occurred_at=AT,
                                 correlation_id=next(ids))  # fmt: skip
            found.append(RecordedEvent(meta=meta, event=event))
    return found


def examples() -> dict[str, dict[str, Any]]:
    """An example record (JSON form) per interaction description, one per (event type, topic)."""
    routing = Routing()
    return {
        description(recorded.event.type_name(), routing.topic_for(recorded.event)): to_content(to_record(recorded))
        for recorded in recorded_samples()
    }


def expected(value: Any, name: str = "") -> Any:
    """`value` with a type matcher on every leaf (a UUID regex on ids), exact where consumers branch."""
    if isinstance(value, dict):
        return {key: expected(item, key) for key, item in value.items()}
    if value is None or name == "stream_type" or (name == "role" and value in ROLES):  # what consumers branch on
        return value
    if isinstance(value, list):
        return match.like(value)
    if isinstance(value, str) and (name.endswith("_id") or name == "event_id") and _is_uuid(value):
        return match.regex(value, regex=_UUID)
    return match.like(value)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def expect(pact: Pact, event_type: str, topic: str, content: dict[str, Any]) -> None:
    """One asynchronous message interaction: the event as content, its topic and type as metadata."""
    (
        pact.upon_receiving(description(event_type, topic), "Async")
        .given(STATE)
        .with_body(expected(content), "application/json")
        .with_metadata({"topic": topic, "event_type": event_type})
    )


def new_pact(consumer: str) -> Pact:
    return Pact(consumer, PROVIDER).with_specification("V4")
