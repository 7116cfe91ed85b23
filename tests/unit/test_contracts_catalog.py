"""The contracts cover the domain exactly, and routing covers every event type."""

from __future__ import annotations

import dataclasses
import json

import pytest

from contracts.routing import BUDGET_EVENTS, INBOUND, OUTBOUND, TOOL_REQUESTS, Routing
from contracts.schemas import AVRO_DIR, event_contracts, load_contract
from domain.catalog import EVENT_TYPES
from domain.session.events import MessagePosted, Role
from domain.tool.events import ToolRequested

CONTRACTS = event_contracts()


def test_every_domain_event_has_a_schema_and_every_schema_a_domain_event():
    assert set(CONTRACTS) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_schema_fields_are_the_event_fields_plus_meta(name):
    schema_fields = [f["name"] for f in CONTRACTS[name].schema["fields"]]
    event_fields = [f.name for f in dataclasses.fields(EVENT_TYPES[name])]
    assert schema_fields == ["meta", *event_fields]


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_field_is_documented_and_namespaced_by_aggregate(name):
    schema = CONTRACTS[name].schema
    aggregate = EVENT_TYPES[name].aggregate
    assert schema["name"] == f"agentlog.{aggregate}.{EVENT_TYPES[name].__name__}"
    assert schema.get("doc")
    undocumented = [f["name"] for f in schema["fields"] if not f.get("doc")]
    assert undocumented == []


def test_meta_carries_identity_position_tenant_and_causality():
    meta = next(f for f in CONTRACTS["agentlog.session.SessionStarted"].schema["fields"] if f["name"] == "meta")
    names = [f["name"] for f in meta["type"]["fields"]]
    assert names == [
        "event_id",
        "stream_id",
        "stream_type",
        "stream_version",
        "tenant_id",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "trace",
    ]


def test_a_file_must_be_named_by_its_record(tmp_path):
    (tmp_path / "wrong.avsc").write_text(
        json.dumps({"type": "record", "name": "Right", "namespace": "agentlog.x", "fields": []})
    )
    with pytest.raises(ValueError, match=r"must be the record's full name, agentlog.x.Right.avsc"):
        load_contract(tmp_path / "wrong.avsc")


def test_a_contract_must_be_a_record_that_parses(tmp_path):
    (tmp_path / "agentlog.x.Enum.avsc").write_text(
        json.dumps({"type": "enum", "name": "Enum", "namespace": "agentlog.x", "symbols": ["A"]})
    )
    with pytest.raises(ValueError, match=r"^agentlog.x.Enum.avsc: an event contract must be an Avro record$"):
        load_contract(tmp_path / "agentlog.x.Enum.avsc")
    (tmp_path / "agentlog.x.Bad.avsc").write_text(
        json.dumps(
            {"type": "record", "name": "Bad", "namespace": "agentlog.x", "fields": [{"name": "a", "type": "nope"}]}
        )
    )
    with pytest.raises(ValueError, match="nope"):  # fastavro names the unknown type
        load_contract(tmp_path / "agentlog.x.Bad.avsc")


def test_a_contract_is_registered_as_compact_json_and_compared_in_canonical_form():
    contract = CONTRACTS["agentlog.session.SessionClosed"]
    assert json.loads(contract.schema_str) == contract.schema
    assert len(contract.schema_str) < len(json.dumps(contract.schema))  # no spaces after separators
    assert '"doc"' not in contract.canonical and contract.canonical.startswith(
        '{"name":"agentlog.session.SessionClosed"'
    )


def test_every_contract_file_is_loaded():
    files = {p.name for p in AVRO_DIR.glob("*.avsc") if not p.name.startswith("agentlog.common.")}
    assert files == {f"{name}.avsc" for name in CONTRACTS}


def test_routing_covers_every_event_type_with_established_topics():
    routing = Routing()
    assert set(routing.routes) == set(EVENT_TYPES)
    assert {INBOUND, OUTBOUND, TOOL_REQUESTS, "tool.results", BUDGET_EVENTS, "delegation.tasks"} <= set(
        routing.topics()
    )


def _message(role: Role) -> MessagePosted:
    import uuid

    return MessagePosted(session_id=uuid.uuid4(), message_id=uuid.uuid4(), role=role, text="hi")


def test_user_messages_go_inbound_and_assistant_messages_outbound_under_the_prefix():
    routing = Routing(prefix="t1.")
    assert routing.topic_for(_message(Role.USER)) == "t1.conversation.inbound"
    assert routing.topic_for(_message(Role.ASSISTANT)) == "t1.conversation.outbound"
    assert routing.topics_for(MessagePosted.type_name()) == (
        "t1.conversation.inbound",
        "t1.conversation.outbound",
    )


def test_subjects_follow_topic_record_name_strategy():
    subjects = dict(Routing().subjects())
    assert subjects["tool.requests-agentlog.tool.ToolRequested"] == ToolRequested.type_name()
    assert "conversation.outbound-agentlog.session.MessagePosted" in subjects
    assert len(subjects) == len(EVENT_TYPES) + 1  # MessagePosted is on two topics
