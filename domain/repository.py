"""The event store's domain side: folds streams into states, remembers them, takes snapshots, checks owners.

pyeventsourcing keeps the database *recorder* (rows in, rows out) apart from the *repository* that
folds, caches and snapshots; so do we. The recorder (eventstore/recorder.py) knows Postgres and
Avro; this module knows only domain events and states, so its rules (stream types, tenancy, the
cache going stale, snapshot cadence) are tested without a server.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from domain.decider import Decider
from domain.errors import NotFound
from domain.events import AppendResult, CommandContext, DomainEvent, RecordedEvent

S = TypeVar("S")


@dataclass
class _Turns:
    """A stream's lock in this process, how many commands hold or wait for it, and what waits to run together."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    waiting: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Stored:
    """A stream as recorded: its newest snapshot (version, state) if any, and the events after it.

    `stream_type` and `owner` come from the stream's first event (None for a stream with none).
    """

    stream_type: str | None = None
    owner: str | None = None
    snapshot: tuple[int, object] | None = None
    events: list[tuple[int, DomainEvent]] = field(default_factory=list)


class Recorder(Protocol):
    """Rows in, rows out: durable streams of encoded events, snapshots and idempotency keys."""

    async def read(self, stream_id: str, state_type: type[S]) -> Stored:
        """The stream's newest snapshot (as a `state_type`) and every event after it, in version order."""
        ...

    async def read_after(self, stream_id: str, version: int) -> list[tuple[int, DomainEvent]]:
        """The stream's events after `version`, in version order."""
        ...

    async def write(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
    ) -> tuple[AppendResult, bool]:
        """Record all events after `expected_version` atomically, or none: (the result, True); or, for a
        retry of an idempotent command, (the result it recorded the first time, False).

        Raises ConcurrencyConflict when the stream moved on, IdempotencyKeyReused when the context's
        key belongs to another request, a contract error when an event does not match its registered
        schema, Unavailable on an outage."""
        ...

    async def write_chain(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        commands: Sequence[tuple[Sequence[DomainEvent], CommandContext]],
    ) -> list[AppendResult]:
        """Record the commands' events one after the other after `expected_version`, all or none, and return each
        command's result. Raises like `write`, and ConcurrencyConflict when any command's key is recorded."""
        ...

    async def recall(self, context: CommandContext) -> AppendResult | None:
        """The result a command with this idempotency key already recorded, if any."""
        ...

    async def recorded_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of the idempotency `keys` commands recorded."""
        ...

    async def save_snapshot(self, stream_id: str, stream_type: str, version: int, state: object) -> None:
        """Keep `state` as the stream's snapshot at `version` (unless a newer one is kept)."""
        ...

    async def read_stream(
        self, stream_id: str, *, upto: int | None = None, last: int | None = None, of_type: str | None = None
    ) -> list[RecordedEvent]:
        """The stream's events with their metadata in version order: all, or the `last` up to version `upto`;
        only those of the event type named `of_type` if given."""
        ...


class Repository:
    """The EventStore commands run against (domain/service.py), over a Recorder.

    Remembers the newest state this process saw of up to `cache_size` streams: a remembered state
    may be stale when another process appended since; the append's version check catches that,
    and a fresh load reads only the events recorded after it (a conflict leaves it for that).
    Every `snapshot_every` events a snapshot is taken, so loading a long stream does not fold it all.
    """

    def __init__(self, recorder: Recorder, *, snapshot_every: int = 50, cache_size: int = 10_000) -> None:
        self.recorder = recorder
        self.snapshot_every = snapshot_every
        self.cache_size = cache_size
        self._states: OrderedDict[str, tuple[int, object, str | None]] = OrderedDict()  # id -> version, state, owner
        self._locks: dict[str, _Turns] = {}  # stream id -> its lock, commands holding or waiting for it

    async def load(
        self, decider: Decider[S], stream_id: str, tenant_id: str | None = None, *, fresh: bool = False
    ) -> tuple[S | None, int]:
        """State and version: remembered; with `fresh`, the remembered state caught up with the events
        recorded after it (by any process); else folded from the newest snapshot and the events after it.

        A stream of another kind of aggregate, or (with `tenant_id`) of another tenant, is NotFound.
        """
        version, remembered, owner = self._states.get(stream_id, (0, None, None))
        state: S | None
        if isinstance(remembered, decider.state_type):
            state = remembered
            if fresh and (newer := await self.recorder.read_after(stream_id, version)):
                state, version = decider.fold((event for _, event in newer), state), newer[-1][0]
                self._remember(stream_id, version, state, owner)
            else:
                self._states.move_to_end(stream_id)
        else:
            folded = await self._fold(decider, stream_id)
            state, version, owner = folded
        if tenant_id is not None and owner not in (None, tenant_id):
            raise NotFound(decider.stream_type, stream_id)
        return state, version

    async def _fold(self, decider: Decider[S], stream_id: str) -> tuple[S | None, int, str | None]:
        stored = await self.recorder.read(stream_id, decider.state_type)
        if stored.stream_type not in (None, decider.stream_type):  # another kind of aggregate's id
            raise NotFound(decider.stream_type, stream_id)
        state: S | None = None
        version = 0
        if stored.snapshot is not None:
            version, snapshot = stored.snapshot
            state = snapshot if isinstance(snapshot, decider.state_type) else None
        state = decider.fold((event for _, event in stored.events), state)
        version = stored.events[-1][0] if stored.events else version
        if state is not None:
            self._remember(stream_id, version, state, stored.owner)
        return state, version, stored.owner

    def _remember(self, stream_id: str, version: int, state: object, owner: str | None) -> None:
        self._states[stream_id] = (version, state, owner)
        self._states.move_to_end(stream_id)
        if len(self._states) > self.cache_size:
            self._states.popitem(last=False)

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
        state_after: object | None = None,
    ) -> AppendResult:
        """Record the events (see Recorder.write); keep `state_after` in memory and, every
        `snapshot_every` events, as a snapshot."""
        if not events:
            return AppendResult(stream_id=stream_id, version=expected_version, position=0)
        result, recorded = await self.recorder.write(stream_id, stream_type, expected_version, events, context)
        if recorded:
            await self._keep(stream_id, stream_type, expected_version, result.version, state_after, context)
        return result

    async def append_chain(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        commands: Sequence[tuple[Sequence[DomainEvent], CommandContext]],
        state_after: object | None = None,
    ) -> list[AppendResult]:
        """Record several commands' events one after the other, all or none (see Recorder.write_chain); keep
        `state_after` (the state after the last) like `append`."""
        results = await self.recorder.write_chain(stream_id, stream_type, expected_version, commands)
        await self._keep(stream_id, stream_type, expected_version, results[-1].version, state_after, commands[0][1])
        return results

    async def _keep(
        self, stream_id: str, stream_type: str, expected: int, version: int, state: object, context: CommandContext
    ) -> None:
        """Remember the state a write left and, when it crossed a multiple of `snapshot_every`, snapshot it."""
        if state is None:
            return
        owner = context.tenant_id if expected == 0 else self._states.get(stream_id, (0, None, None))[2]
        self._remember(stream_id, version, state, owner)
        if version // self.snapshot_every > expected // self.snapshot_every:
            await self.recorder.save_snapshot(stream_id, stream_type, version, state)

    async def recall(self, context: CommandContext) -> AppendResult | None:
        return await self.recorder.recall(context)

    async def recorded_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of the idempotency `keys` commands recorded (one look for several steps of a worker)."""
        return await self.recorder.recorded_keys(keys)

    @asynccontextmanager
    async def exclusive(self, stream_id: str, waiting: object | None = None) -> AsyncIterator[list[Any]]:
        """One command of this process at a time on the stream: commands of one process that would only
        collide (many conversations charging one persona's budget) wait their turn instead of failing
        their version check and deciding again. Other processes are still kept apart by that check.

        Yields the stream's list of what waits to run together, `waiting` included (until it leaves): the
        holder may run them all at once (domain/service.py), and a later holder then finds its own done."""
        turns = self._locks.setdefault(stream_id, _Turns())
        turns.users += 1
        if waiting is not None:
            turns.waiting.append(waiting)
        try:
            async with turns.lock:
                yield turns.waiting
        finally:
            if waiting in turns.waiting:
                turns.waiting.remove(waiting)
            turns.users -= 1
            if not turns.users:
                del self._locks[stream_id]

    async def read_stream(
        self, stream_id: str, *, upto: int | None = None, last: int | None = None, of_type: str | None = None
    ) -> list[RecordedEvent]:
        return await self.recorder.read_stream(stream_id, upto=upto, last=last, of_type=of_type)
