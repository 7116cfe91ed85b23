"""Decoding against the real registry: older writer versions upcast, broken records refused by kind."""

from __future__ import annotations

import io
import json
import struct

import pytest
from confluent_kafka.schema_registry import Schema
from fastavro import parse_schema, schemaless_writer

from contracts import registry as workflow
from contracts.codec import EventCodec
from contracts.convert import to_record
from contracts.errors import UndecodableRecord, UnknownEventType
from contracts.routing import Routing
from contracts.schemas import event_contracts
from domain.session.events import MessagePosted
from tests.support.events import message

POSTED = MessagePosted.type_name()


def _wire(schema_id: int, schema: dict, record: dict) -> bytes:
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(schema), record)
    return struct.pack(">bI", 0, schema_id) + body.getvalue()


def test_one_codec_reads_records_of_an_older_and_the_current_version_alike(registry, subject_prefix):
    routing = Routing(prefix=subject_prefix)
    subject = routing.subject(routing.prefix + "conversation.inbound", POSTED)
    v1 = json.loads(event_contracts()[POSTED].schema_str)
    v1["fields"] = [f for f in v1["fields"] if f["name"] != "metadata"]
    v1_id = registry.register_schema(subject, Schema(json.dumps(v1), "AVRO"))
    old = message()
    stored_under_v1 = _wire(v1_id, v1, {k: v for k, v in to_record(old).items() if k != "metadata"})
    workflow.register(registry, workflow.check(registry, routing))  # the current schema becomes v2
    codec = EventCodec(registry, routing)
    codec.resolve()
    current = message(metadata={"client": "web"})
    stored_under_v2 = codec.encode(current).value

    assert [codec.decode(v) for v in (stored_under_v1, stored_under_v2, stored_under_v1)] == [old, current, old]
    assert codec.writer_name(stored_under_v1) == codec.writer_name(stored_under_v2) == POSTED
    # the projections' reader upcasts the same way: the field v1 lacks gets its default
    assert codec.read(stored_under_v1)[1]["metadata"] == {}
    assert codec.read(stored_under_v2)[1]["metadata"] == {"client": "web"}


def test_read_gives_the_record_as_written_ids_as_text_and_times_as_epoch_milliseconds(codec):
    recorded = message(metadata={"client": "web"})

    event = recorded.event
    assert isinstance(event, MessagePosted)

    name, record = codec.read(codec.encode(recorded).value)

    assert name == POSTED
    assert record["message_id"] == str(event.message_id)
    assert record["session_id"] == str(event.session_id)
    assert record["role"] == event.role.value
    assert record["meta"]["event_id"] == str(recorded.meta.event_id)
    assert record["meta"]["occurred_at"] == int(recorded.meta.occurred_at.timestamp() * 1000)
    assert record["meta"]["stream_version"] == recorded.meta.stream_version


def test_a_truncated_body_is_undecodable_naming_the_event_type(codec):
    value = codec.encode(message(metadata={"client": "web"})).value

    for cut in (value[:-3], value[: len(value) // 2], value[:5]):
        for decode in (codec.decode, codec.read):
            with pytest.raises(UndecodableRecord, match=f"{POSTED} body does not decode"):
                decode(cut)


@pytest.mark.parametrize("value", [b"", b"\x00\x00", b"\x01\x00\x00\x00\x01\x02", b"plain text"])
def test_a_record_not_in_the_confluent_wire_format_is_undecodable(codec, value):
    with pytest.raises(UndecodableRecord, match="wire format"):
        codec.decode(value)


def test_a_schema_id_unknown_to_the_registry_is_undecodable(codec):
    with pytest.raises(UndecodableRecord, match="unknown to the registry"):
        codec.decode(struct.pack(">bI", 0, 2**31 - 1) + b"\x02a")


def test_a_schema_without_a_local_contract_is_an_unknown_event_type(codec, registry, subject_prefix):
    schema = {
        "type": "record",
        "name": "Stranger",
        "namespace": "agentlog.test",
        "fields": [{"name": "x", "type": "string"}],
    }
    schema_id = registry.register_schema(f"{subject_prefix}strangers-value", Schema(json.dumps(schema), "AVRO"))

    for decode in (codec.decode, codec.read):
        with pytest.raises(UnknownEventType) as unknown:
            decode(_wire(schema_id, schema, {"x": "a"}))

        assert unknown.value.event_type == "agentlog.test.Stranger"
