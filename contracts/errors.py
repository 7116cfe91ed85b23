"""Errors where events meet their contracts; each names the subject, event type or field at fault.

Each error's docstring says which of the three kinds it is: the caller's fault (the event or the
input is wrong), a dependency unavailable (retry later; a background process never dead-letters
for it; 503 with Retry-After at the API), or a fault of the server itself (its deployment or code).
"""

from __future__ import annotations


class ContractError(Exception):
    """Base class of the errors raised where events meet their contracts (see each one's kind)."""


class SchemaNotRegistered(ContractError):
    """The subject has no registered version equal to the local schema; run `agentlog contracts register`.

    Kind: the server's own fault (its contracts are not registered where it writes), never the
    caller's: the event may well be right. At the API, a 5xx (503: the server is not ready to write
    this event type), not a 4xx."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"subject {subject!r} has no registered version matching the local schema; "
            "run `agentlog contracts register`"
        )
        self.subject = subject


class EventRejected(ContractError):
    """An event does not match its registered schema; nothing was encoded, stored or published.

    Kind: the caller's fault when the event was built from the caller's input (422 naming the fields)."""

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
    """The schema registry gave no verdict: unreachable (connection refused, DNS, timeout), a 5xx,
    408 or 429, an authentication refusal, or an answer that is no registry's (a wrong URL).

    Kind: a dependency unavailable, never the data's fault: retried with backoff and never
    dead-lettered by background processes; 503 with Retry-After at the API."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot reach the schema registry: {reason}")
        self.reason = reason


class UnknownEventType(ContractError):
    """No contract exists for this event type (or schema name)."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"no contract for event type {event_type!r}")
        self.event_type = event_type


class UndecodableRecord(ContractError):
    """A Kafka record cannot be decoded whatever the registry's state: not in the Confluent wire format
    (no magic byte 0), a schema id the registry answers it does not know, or a body that does not
    match its writer's schema.

    Kind: the data's fault (poison): a projection retries it a few times, then dead-letters it."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot decode record: {reason}")
        self.reason = reason
