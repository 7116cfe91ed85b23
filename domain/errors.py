"""Errors shared by every aggregate; each carries the data that explains it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.events import DomainEvent


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded."""


class NotFound(DomainError):
    """The stream the command addresses has no events (or belongs to another tenant); `field` names the
    command's field that referred to it when that is not the stream the command is for."""

    def __init__(self, stream_type: str, stream_id: str, field: str | None = None) -> None:
        said = f"{stream_type} {stream_id} not found"
        super().__init__(f"{said} ({field}: name one of the caller's {stream_type}s)" if field else said)
        self.stream_type = stream_type
        self.stream_id = stream_id
        self.field = field


class InvalidCommand(DomainError):
    """A command's value is unacceptable; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class StateConflict(DomainError):
    """The command does not fit the aggregate's current state (e.g. a closed session)."""

    def __init__(self, stream_id: str, reason: str) -> None:
        super().__init__(f"{stream_id}: {reason}")
        self.stream_id = stream_id
        self.reason = reason


class ConcurrencyConflict(DomainError):
    """Another writer appended to the stream first: expected version `expected`, found `actual`.

    `newer`: the (version, event) pairs recorded after `expected`, when the store returned them with the refusal.
    """

    def __init__(
        self, stream_id: str, expected: int, actual: int, newer: Sequence[tuple[int, DomainEvent]] = ()
    ) -> None:
        super().__init__(f"stream {stream_id}: expected version {expected}, found {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.newer = newer

    def missed(self) -> list[DomainEvent] | None:
        """Every event recorded after `expected` up to `actual`, in order; None when `newer` does not hold them all."""
        if [version for version, _ in self.newer] != list(range(self.expected + 1, self.actual + 1)) or not self.newer:
            return None
        return [event for _, event in self.newer]


class IdempotencyKeyReused(DomainError):
    """The idempotency key was first used with a different request; nothing was recorded."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class UnexpectedEvent(Exception):
    """An event that cannot follow the stream's history: a bug or a corrupted stream, never a broken rule.

    Raised by `evolve` functions; deliberately not a DomainError, so it surfaces as a server error.
    """

    def __init__(self, stream_type: str, event_type: str, version: int) -> None:
        super().__init__(f"{stream_type}: {event_type} cannot follow version {version}")
        self.stream_type = stream_type
        self.event_type = event_type
        self.version = version


class Unavailable(Exception):
    """A dependency (`dependency`: postgres, redis, the registry, ...) cannot serve now; retry later.

    Neither a broken rule nor a bug: the API answers 503 with Retry-After, background processes
    retry with backoff and never dead-letter for it. A command that failed this way may or may
    not have been recorded; retrying it with the same idempotency key is always safe.
    """

    def __init__(self, dependency: str, reason: str, retry_after: int = 1) -> None:
        super().__init__(f"{dependency} is unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.retry_after = retry_after
