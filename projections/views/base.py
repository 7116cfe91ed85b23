"""What every view is made of: its key names, its folds (event -> Redis operations), its topics."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.codec import Record
from domain.events import DomainEvent
from projections.apply import Op

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Keys:
    """Key names of one view at one key version: `<prefix>{view/<view>}:v<n>:...`.

    The braces are a Redis Cluster hash tag: every key of a view, in every key version, hashes to one slot, so
    the projections' script (a batch of many streams, its offsets and positions), the indexes it moves ids
    between and the live streams it appends to stay on one master. The view, not the stream, is the unit
    because one atomic step spans many streams; load spreads by view, and `view/` places the three busiest
    views (transcript, sessions, tools: slots 10092, 12266, 4282) on three different masters of an evenly split
    three-master cluster. Every key still starts with the prefix, so a prefix's keys are found by `<prefix>*`.
    """

    prefix: str
    view: str
    version: int = 1
    _base: str = field(init=False, repr=False, compare=False)
    _versioned: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # every event names several keys: build the fixed parts once
        base = f"{self.prefix}{{view/{self.view}}}:"
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_versioned", f"{base}v{self.version}:")

    def __call__(self, *parts: object) -> str:
        return self._versioned + ":".join(map(str, parts))

    def shared(self, *parts: object) -> str:
        """A key of the view outside its versions (the version pointer, live streams, runner status)."""
        return self._base + ":".join(map(str, parts))

    def at(self, version: int) -> Keys:
        return Keys(self.prefix, self.view, version)


Fold = Callable[[Record, Keys], list[Op]]
Folds = Mapping[str, Fold]  # event type name -> its fold


@dataclass(frozen=True)
class View:
    """A read model: its name, the topics it reads (before any prefix), its folds, and the live
    updates it publishes (only while running live, not in a rebuild)."""

    name: str
    topics: tuple[str, ...]
    folds: Folds
    live: Folds = field(default_factory=dict)


def by_type(folds: Mapping[type[DomainEvent], Fold]) -> dict[str, Fold]:
    """Folds keyed by the event's contract name (what `EventCodec.read` returns)."""
    return {event.type_name(): fold for event, fold in folds.items()}


def iso(millis: int) -> str:
    """Epoch milliseconds as ISO 8601 (UTC), exactly as the datetime the domain recorded."""
    return (_EPOCH + timedelta(milliseconds=millis)).isoformat()


compact_json = json.JSONEncoder(separators=(",", ":")).encode  # built once: json.dumps builds one per call
