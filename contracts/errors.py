"""Errors where events meet their contracts; each names the subject, event type or field at fault."""

from __future__ import annotations


class ContractError(Exception):
    """Base class: an event, schema or subject does not satisfy its contract."""


class SchemaNotRegistered(ContractError):
    """The subject has no registered version equal to the local schema; run `agentlog contracts register`."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"subject {subject!r} has no registered version matching the local schema; "
            "run `agentlog contracts register`"
        )
        self.subject = subject


class EventRejected(ContractError):
    """An event does not match its registered schema; nothing was encoded, stored or published."""

    def __init__(self, event_type: str, problems: list[str]) -> None:
        super().__init__(f"{event_type} does not match its schema: {'; '.join(problems)}")
        self.event_type = event_type
        self.problems = problems


class IncompatibleSchema(ContractError):
    """The registry refused a new version under the subject's compatibility level."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"the registry refused a new version of {subject!r}: {reason}")
        self.subject = subject
        self.reason = reason


class RegistryUnavailable(ContractError):
    """The schema registry could not be reached at all (connection refused, DNS, timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot reach the schema registry: {reason}")
        self.reason = reason


class UnknownEventType(ContractError):
    """No contract exists for this event type (or schema name)."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"no contract for event type {event_type!r}")
        self.event_type = event_type


class UndecodableRecord(ContractError):
    """A Kafka record is not in the Confluent wire format or names a schema id the registry lacks."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decode record: {reason}")
        self.reason = reason
