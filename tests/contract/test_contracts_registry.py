"""Contracts against the real registry: registration, fail-fast resolution, evolution, upcasting."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from contracts import registry as workflow
from contracts.codec import EventCodec
from contracts.convert import to_record
from contracts.errors import EventRejected, IncompatibleSchema, SchemaNotRegistered
from contracts.routing import Routing
from contracts.schemas import event_contracts
from domain.session.events import MessagePosted
from tests.support.events import message

POSTED = MessagePosted.type_name()


@pytest.fixture
def routing(subject_prefix) -> Routing:
    return Routing(prefix=subject_prefix)


def test_resolve_fails_fast_naming_the_missing_subject(registry, routing):
    with pytest.raises(SchemaNotRegistered) as missing:
        EventCodec(registry, routing).resolve()
    assert missing.value.subject.startswith(routing.prefix)
    assert "agentlog contracts register" in str(missing.value)


def test_register_is_idempotent_and_check_then_reports_every_subject_registered(registry, routing):
    ids = workflow.register(registry, workflow.check(registry, routing))
    assert len(ids) == len(routing.subjects())

    again = workflow.check(registry, routing)
    assert {report.verdict for report in again} == {"registered (v1)"}
    assert workflow.register(registry, again) == {}
    assert EventCodec(registry, routing).resolve() == ids


def test_an_event_that_does_not_match_its_schema_is_refused_naming_the_field(registry, routing):
    workflow.register(registry, workflow.check(registry, routing))
    codec = EventCodec(registry, routing)
    codec.resolve()

    with pytest.raises(EventRejected) as refused:
        codec.encode(message(text=42))

    assert refused.value.event_type == POSTED
    assert "MessagePosted.text" in str(refused.value)


def _without(field: str) -> dict:
    schema = json.loads(event_contracts()[POSTED].schema_str)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != field]
    return schema


def test_adding_an_optional_field_is_accepted_and_v1_records_are_read_as_the_current_version(registry, routing):
    topic = routing.prefix + "conversation.inbound"
    subject = routing.subject(topic, POSTED)
    v1 = json.dumps(_without("metadata"))
    registry.register_schema(subject, Schema(v1, "AVRO"))
    registry.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    old = message()
    record = to_record(old)
    del record["metadata"]
    writer = AvroSerializer(
        registry,
        v1,
        conf={"auto.register.schemas": False, "subject.name.strategy": topic_record_subject_name_strategy},
    )
    stored_under_v1 = writer(record, SerializationContext(topic, MessageField.VALUE))

    workflow.register(registry, workflow.check(registry, routing))  # the current schema becomes v2

    assert registry.get_versions(subject) == [1, 2]
    assert EventCodec(registry, routing).decode(stored_under_v1) == old  # metadata took its default {}


@pytest.mark.parametrize(
    ("level", "change", "field"),
    [
        ("BACKWARD_TRANSITIVE", "retype", "text"),
        ("FORWARD_TRANSITIVE", "remove", "text"),
        ("FULL_TRANSITIVE", "remove", "role"),
    ],
)
def test_the_registry_rejects_breaking_changes_naming_the_field(registry, subject_prefix, level, change, field):
    subject = f"{subject_prefix}conversation.inbound-{POSTED}"
    registry.register_schema(subject, Schema(event_contracts()[POSTED].schema_str, "AVRO"))
    registry.set_compatibility(subject, level)
    if change == "remove":
        broken = _without(field)
    else:
        broken = json.loads(event_contracts()[POSTED].schema_str)
        next(f for f in broken["fields"] if f["name"] == field)["type"] = "long"

    with pytest.raises(IncompatibleSchema) as refused:
        workflow.register_version(registry, subject, json.dumps(broken))

    assert isinstance(refused.value.__cause__, SchemaRegistryError)
    assert refused.value.__cause__.http_status_code == 409
    assert f"field {field}" in refused.value.reason
    assert registry.get_versions(subject) == [1]
