"""Aggregates as pure decide/evolve functions over immutable state.

We model aggregates as pure functions rather than the `eventsourcing` library's `Aggregate`
classes: the state is a frozen dataclass, `evolve(state, event)` folds one event into it, and
each command is a function `(state, command) -> list[DomainEvent]` that raises a domain error
when a rule is broken. That is simpler here because our events are already plain dataclasses
defined by the Avro contracts (no library event classes to mirror), the state is trivially
snapshotted, and the write path needs no per-aggregate object mutation or library metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.events import DomainEvent

S = TypeVar("S")


@dataclass(frozen=True)
class Decider(Generic[S]):
    """How one kind of aggregate folds its events: `evolve(None, first_event)` starts the state.

    Tenancy, the one rule for every aggregate: a stream belongs to the tenant of its first event,
    and a command of another tenant finds nothing there (NotFound, never its data). `execute`
    loads every stream with the command's tenant and the event store enforces it, so aggregates
    need no tenant checks of their own. `tenant_owned=False` marks platform-wide streams (model
    profiles), which any tenant's command may address (the API restricts who may).
    """

    stream_type: str
    evolve: Callable[[S | None, DomainEvent], S]
    state_type: type[S]
    tenant_owned: bool = True

    def fold(self, events: Iterable[DomainEvent], state: S | None = None) -> S | None:
        """The state after applying events, in order, to state (None: nothing happened yet)."""
        for event in events:
            state = self.evolve(state, event)
        return state
