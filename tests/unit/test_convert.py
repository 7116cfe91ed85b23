"""Dataclasses to plain values and back: decoded Avro records and JSON of `to_plain` rebuild the same objects."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum

import pytest

from contracts.convert import from_plain, from_record, to_plain, to_record
from domain.events import AppendResult, EventMetadata, RecordedEvent, TraceContext
from domain.session.events import Attachment, MessagePosted, Role


class Level(Enum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True, kw_only=True)
class Leaf:
    at: datetime
    amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class Node:
    """Every kind of hint `from_plain` converts, including a reference to itself."""

    id: uuid.UUID
    day: date | None = None
    level: Level | None = None
    leaf: Leaf | None = None
    children: tuple[Node, ...] = ()
    tags: frozenset[str] = frozenset()
    owners: tuple[uuid.UUID | None, ...] = ()
    leaves: Mapping[str, Leaf | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _node() -> Node:
    at = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    return Node(
        id=uuid.uuid4(),
        day=date(2026, 1, 2),
        level=Level.HIGH,
        leaf=Leaf(at=at, amount=Decimal("1.50")),
        children=(Node(id=uuid.uuid4(), tags=frozenset({"b"})),),
        tags=frozenset({"a", "b"}),
        owners=(uuid.uuid4(), None),
        leaves={"x": Leaf(at=at), "y": None},
        labels={"k": "v"},
    )


def _plain(node: Node) -> dict:
    """`to_plain` leaves mappings as they are, so nested leaves are made plain here."""
    plain = to_plain(node)
    plain["leaves"] = {key: to_plain(leaf) for key, leaf in node.leaves.items()}
    return plain


def test_plain_values_with_objects_rebuild_the_same_dataclass():
    node = _node()
    assert from_plain(Node, _plain(node)) == node


def test_json_of_plain_values_rebuilds_ids_times_dates_amounts_and_enums():
    node = _node()
    rebuilt = from_plain(Node, json.loads(json.dumps(_plain(node), default=str)))

    assert rebuilt == node
    assert isinstance(rebuilt.owners[0], uuid.UUID)
    assert isinstance(rebuilt.children, tuple)
    assert isinstance(rebuilt.tags, frozenset)
    assert rebuilt.level is Level.HIGH


def test_missing_fields_take_their_defaults_and_none_stays_none():
    node_id = uuid.uuid4()
    assert from_plain(Node, {"id": str(node_id), "leaf": None, "level": None}) == Node(id=node_id)


def test_values_already_converted_are_kept_as_they_are():
    node_id = uuid.uuid4()
    assert from_plain(Node, {"id": node_id}).id is node_id


def test_an_unknown_field_raises_key_error_naming_it():
    with pytest.raises(KeyError, match="colour"):
        from_plain(Node, {"id": str(uuid.uuid4()), "colour": "red"})


def test_a_missing_required_field_raises_type_error():
    with pytest.raises(TypeError):
        from_plain(Node, {"day": "2026-01-02"})


def test_a_value_not_among_the_enum_values_raises_value_error():
    with pytest.raises(ValueError, match="3"):
        from_plain(Node, {"id": str(uuid.uuid4()), "level": 3})


def test_an_append_result_round_trips_through_json():
    result = AppendResult(stream_id="s", version=3, position=7, event_ids=(uuid.uuid4(), uuid.uuid4()))
    assert from_plain(AppendResult, json.loads(json.dumps(to_plain(result), default=str))) == result


def test_a_record_rebuilds_the_recorded_event_with_its_metadata():
    session = uuid.uuid4()
    meta = EventMetadata(
        event_id=uuid.uuid4(),
        stream_id=str(session),
        stream_type="session",
        stream_version=2,
        tenant_id="acme",
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
        correlation_id=uuid.uuid4(),
        trace=TraceContext(traceparent="00-abc-def-01"),
    )
    event = MessagePosted(
        session_id=session,
        message_id=uuid.uuid4(),
        role=Role.USER,
        text="hi",
        attachments=(Attachment(name="a.pdf", media_type="application/pdf", url="https://x/a.pdf"),),
        metadata={"client": "web"},
    )
    recorded = RecordedEvent(meta=meta, event=event)

    assert from_record(MessagePosted, to_record(recorded)) == recorded
    assert from_record(MessagePosted, json.loads(json.dumps(to_record(recorded), default=str))) == recorded
