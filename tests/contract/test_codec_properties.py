"""Property tests of the Avro codec: valid events round-trip exactly, wrongly typed fields are refused."""

from __future__ import annotations

import dataclasses
import struct
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from contracts import registry as contract_registry
from contracts.codec import EventCodec
from contracts.convert import from_record, to_record
from contracts.errors import EventRejected
from contracts.routing import Routing
from contracts.schemas import event_contracts
from domain.catalog import EVENT_TYPES
from domain.events import RecordedEvent
from tests.support.avro_strategies import records

CONTRACTS = event_contracts()
NAMES = sorted(CONTRACTS)
RECORDS = {name: records(CONTRACTS[name].schema) for name in NAMES}
PROPERTY = settings(max_examples=40, deadline=None)

# One value of the wrong Avro type per field type; fields typed as unions (optional) are left out.
WRONG: dict[str, Any] = {
    "string": 12345,
    "long": "x",
    "double": "x",
    "uuid": 42,
    "date": "x",
    "boolean": "no",
    "enum": "not-a-symbol",
    "array": 42,
    "map": 42,
}


def _kind(avro_type: Any) -> str | None:
    if isinstance(avro_type, str):
        return avro_type
    if isinstance(avro_type, dict):
        return str(avro_type.get("logicalType") or avro_type["type"])
    return None  # a union


CORRUPTIBLE = [
    (name, field["name"], WRONG[kind])
    for name in NAMES
    for field in CONTRACTS[name].schema["fields"]
    if field["name"] != "meta" and (kind := _kind(field["type"])) in WRONG
]


@pytest.fixture(scope="module")
def routing() -> Routing:
    return Routing(prefix=f"prop{uuid.uuid4().hex[:8]}.")


@pytest.fixture(scope="module")
def codec(registry: SchemaRegistryClient, routing: Routing) -> Iterator[EventCodec]:
    """A codec whose subjects (under this module's own prefix) are registered once, deleted afterwards."""
    try:
        reports = contract_registry.check(registry, routing)
        assert [r.subject for r in reports if not r.ok] == []
        contract_registry.register(registry, reports)
        codec = EventCodec(registry, routing)
        codec.resolve()
        yield codec
    finally:
        for subject in registry.get_subjects():
            if subject.startswith(routing.prefix):
                registry.delete_subject(subject)
                registry.delete_subject(subject, permanent=True)


@pytest.fixture(scope="module")
def confluent(registry: SchemaRegistryClient) -> tuple[dict[str, AvroSerializer], AvroDeserializer]:
    """confluent-kafka's own serializer of every contract and its deserializer, made once (each caches the schemas
    it fetched), as a client nobody here wrote would use them."""
    conf = {"auto.register.schemas": False, "subject.name.strategy": topic_record_subject_name_strategy}
    serializers = {name: AvroSerializer(registry, CONTRACTS[name].schema_str, conf=conf) for name in NAMES}
    return serializers, AvroDeserializer(registry, conf={"subject.name.strategy": topic_record_subject_name_strategy})


def _recorded(name: str, record: dict[str, Any]) -> RecordedEvent:
    return from_record(EVENT_TYPES[name], record)


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_valid_records_round_trip_exactly_in_the_confluent_wire_format(
    codec: EventCodec,
    registry: SchemaRegistryClient,
    confluent: tuple[dict[str, AvroSerializer], AvroDeserializer],
    name: str,
    data: st.DataObject,
):
    record = data.draw(RECORDS[name], label="record")
    recorded = _recorded(name, record)

    encoded = codec.encode(recorded)
    decoded = codec.decode(encoded.value)

    assert decoded == recorded
    assert to_record(decoded) == record
    magic, schema_id = struct.unpack_from(">bI", encoded.value)
    assert (magic, schema_id) == (0, encoded.schema_id)
    subject = Routing.subject(encoded.topic, name)
    assert registry.lookup_schema(subject, Schema(CONTRACTS[name].schema_str, "AVRO")).schema_id == schema_id
    assert encoded.key == recorded.meta.stream_id.encode()
    # byte for byte what confluent-kafka's serializer writes, and its deserializer reads it back
    context = SerializationContext(encoded.topic, MessageField.VALUE)
    serializers, deserializer = confluent
    assert serializers[name](record, context) == encoded.value
    assert deserializer(encoded.value, context) == record


def _assert_rejected(codec: EventCodec, recorded: RecordedEvent, field: str, wrong: Any) -> None:
    name = recorded.event.type_name()
    corrupted = dataclasses.replace(recorded.event, **{field: wrong})

    with pytest.raises(EventRejected) as rejected:
        codec.encode(RecordedEvent(meta=recorded.meta, event=corrupted))

    assert rejected.value.event_type == name
    assert f"{name}.{field}" in str(rejected.value)


@settings(PROPERTY, max_examples=60)
@given(target=st.sampled_from(CORRUPTIBLE), data=st.data())
def test_a_field_of_the_wrong_type_is_rejected_by_name(
    codec: EventCodec, target: tuple[str, str, Any], data: st.DataObject
):
    name, field, wrong = target
    _assert_rejected(codec, _recorded(name, data.draw(RECORDS[name], label="record")), field, wrong)


# Found by these properties: fastavro's writer coerces some wrong values (a string into a boolean, a
# float into a long) and its validator raises plain errors for others; the codec must refuse them all.
EDGE_CASES = [
    ("agentlog.tool.ToolFailed", "timed_out", "no"),
    ("agentlog.tool.ToolCompleted", "duration_ms", 1.5),
    ("agentlog.tool.ToolCompleted", "duration_ms", True),
    ("agentlog.session.MessagePosted", "session_id", "x"),
    ("agentlog.budget.BudgetExceeded", "day", "x"),
    ("agentlog.budget.TokensConsumed", "cost_usd", Decimal("1E-7")),
    ("agentlog.budget.TokensConsumed", "cost_usd", Decimal("NaN")),
    ("agentlog.budget.TokensConsumed", "cost_usd", Decimal(10**13)),
]


@pytest.mark.parametrize(("name", "field", "wrong"), EDGE_CASES, ids=[f"{f}={w!r}" for _, f, w in EDGE_CASES])
@settings(PROPERTY, max_examples=5, phases=[Phase.generate])
@given(data=st.data())
def test_values_fastavro_would_coerce_are_refused(
    codec: EventCodec, name: str, field: str, wrong: Any, data: st.DataObject
):
    _assert_rejected(codec, _recorded(name, data.draw(RECORDS[name], label="record")), field, wrong)
