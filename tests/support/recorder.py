"""A test double of the domain's Recorder port: streams as lists of rows in a dict, no server.

The Postgres recorder (eventstore/recorder.py) is tested against a real server in
tests/integration/test_event_store.py; this one lets the repository's and the services' rules be
tested in the unit tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from domain.errors import ConcurrencyConflict
from domain.events import AppendResult, CommandContext, DomainEvent, RecordedEvent
from domain.repository import Stored


class RowsRecorder:
    """Streams as lists of (version, event), with the stream type and tenant of their first event."""

    def __init__(self, *, returns_missed: bool = True) -> None:
        self.returns_missed = returns_missed  # a conflict carries the events it missed, as the Postgres recorder's does
        self.streams: dict[str, list[tuple[int, DomainEvent]]] = {}
        self.heads: dict[str, tuple[str, str]] = {}  # stream -> (stream type, tenant)
        self.snapshots: dict[str, tuple[int, object]] = {}
        self.results: dict[str, AppendResult] = {}
        self.reads = 0
        self.catch_ups = 0
        self.chains: list[int] = []  # the number of commands of every chain written

    async def read(self, stream_id: str, state_type: type) -> Stored:
        await asyncio.sleep(0)  # a round trip: other commands run meanwhile
        self.reads += 1
        snapshot = self.snapshots.get(stream_id)
        after = snapshot[0] if snapshot else 0
        events = [(v, e) for v, e in self.streams.get(stream_id, []) if v > after]
        kind, owner = self.heads.get(stream_id, (None, None))
        return Stored(kind, owner, snapshot, events)

    async def read_after(self, stream_id: str, version: int) -> list[tuple[int, DomainEvent]]:
        await asyncio.sleep(0)
        self.catch_ups += 1
        return [(v, e) for v, e in self.streams.get(stream_id, []) if v > version]

    async def write(
        self, stream_id: str, stream_type: str, expected: int, events: Sequence[DomainEvent], context: CommandContext
    ) -> tuple[AppendResult, bool]:
        await asyncio.sleep(0)
        if context.idempotency_key in self.results:
            return self.results[context.idempotency_key], False
        self._check(stream_id, expected)
        return self._record(stream_id, stream_type, events, context), True

    async def write_chain(
        self,
        stream_id: str,
        stream_type: str,
        expected: int,
        commands: Sequence[tuple[Sequence[DomainEvent], CommandContext]],
    ) -> list[AppendResult]:
        await asyncio.sleep(0)
        self.chains.append(len(commands))
        self._check(stream_id, expected, any(context.idempotency_key in self.results for _, context in commands))
        return [self._record(stream_id, stream_type, events, context) for events, context in commands]

    def _check(self, stream_id: str, expected: int, key_recorded: bool = False) -> None:
        stream = self.streams.setdefault(stream_id, [])
        if len(stream) != expected or key_recorded:
            missed = stream[expected:] if self.returns_missed else []
            raise ConcurrencyConflict(stream_id, expected, len(stream), missed)

    def _record(
        self, stream_id: str, stream_type: str, events: Sequence[DomainEvent], context: CommandContext
    ) -> AppendResult:
        stream = self.streams[stream_id]
        self.heads.setdefault(stream_id, (stream_type, context.tenant_id))
        stream += [(len(stream) + i, e) for i, e in enumerate(events, start=1)]
        result = AppendResult(stream_id=stream_id, version=len(stream), position=len(stream))
        if context.idempotency_key:
            self.results[context.idempotency_key] = result
        return result

    async def recall(self, context: CommandContext) -> AppendResult | None:
        return self.results.get(context.idempotency_key or "")

    async def recorded_keys(self, keys: Sequence[str]) -> set[str]:
        return {key for key in keys if key in self.results}

    async def save_snapshot(self, stream_id: str, stream_type: str, version: int, state: object) -> None:
        self.snapshots[stream_id] = (version, state)

    async def read_stream(
        self, stream_id: str, *, upto: int | None = None, last: int | None = None, of_type: str | None = None
    ) -> list[RecordedEvent]:
        raise NotImplementedError
