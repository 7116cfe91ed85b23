"""Each contract error names what is at fault and keeps it for the caller (the API and CLI answer with it)."""

from __future__ import annotations

from contracts.errors import (
    ContractError,
    EventRejected,
    IncompatibleSchema,
    RegistryUnavailable,
    SchemaNotRegistered,
    UndecodableRecord,
    UnknownEventType,
)


def test_each_error_says_what_is_at_fault_and_what_to_do():
    errors = {
        SchemaNotRegistered("conversation.inbound-agentlog.session.SessionStarted"): (
            "subject 'conversation.inbound-agentlog.session.SessionStarted' has no registered version matching "
            "the local schema; run `agentlog contracts register`"
        ),
        EventRejected("agentlog.session.MessagePosted", ["text is <1>: not a string", "role is <'x'>"]): (
            "agentlog.session.MessagePosted does not match its schema: text is <1>: not a string; role is <'x'>"
        ),
        IncompatibleSchema("s-E", "field x removed"): "the registry refused a new version of 's-E': field x removed",
        RegistryUnavailable("connection refused"): "cannot reach the schema registry: connection refused",
        UnknownEventType("agentlog.nope.Nope"): "no contract for event type 'agentlog.nope.Nope'",
        UndecodableRecord("no magic byte"): "cannot decode record: no magic byte",
    }
    for error, message in errors.items():
        assert isinstance(error, ContractError)
        assert str(error) == message


def test_each_error_keeps_what_it_names():
    assert SchemaNotRegistered("s").subject == "s"
    rejected = EventRejected("E", ["a", "b"])
    assert (rejected.event_type, rejected.problems) == ("E", ["a", "b"])
    incompatible = IncompatibleSchema("s", "why")
    assert (incompatible.subject, incompatible.reason) == ("s", "why")
    assert RegistryUnavailable("down").reason == "down"
    assert UnknownEventType("E").event_type == "E"
    assert UndecodableRecord("bad").reason == "bad"
