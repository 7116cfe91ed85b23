"""Running a command: load the stream, decide, append with the expected version, retry on conflict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from domain.decider import Decider
from domain.errors import ConcurrencyConflict, DomainError
from domain.events import AppendResult, CommandContext, DomainEvent

S = TypeVar("S")
T = TypeVar("T")


class EventStore(Protocol):
    """Durable, ordered streams of domain events."""

    async def load(
        self, decider: Decider[T], stream_id: str, tenant_id: str | None = None, *, fresh: bool = False
    ) -> tuple[T | None, int]:
        """The stream's current state (None when empty) and version, from a snapshot plus newer events.

        May answer from memory a state that another process has since moved past (`append`'s
        version check catches that), unless `fresh`. With `tenant_id`, another tenant's stream
        raises NotFound.
        """
        ...

    async def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: CommandContext,
        state_after: object | None = None,
    ) -> AppendResult:
        """Append all events atomically after `expected_version`, or none of them.

        Raises ConcurrencyConflict when the stream moved on, IdempotencyKeyReused when the
        context's key belongs to another request, and a contract error when an event does not
        match its registered schema. `state_after` may be kept as a snapshot.
        """
        ...

    async def append_chain(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        commands: Sequence[tuple[Sequence[DomainEvent], CommandContext]],
        state_after: object | None = None,
    ) -> list[AppendResult]:
        """Append several commands' events one after the other after `expected_version`, all or none; each
        command's result. Raises like `append` (ConcurrencyConflict also when any command's key is recorded)."""
        ...

    async def recall(self, context: CommandContext) -> AppendResult | None:
        """The result a command with this idempotency key already recorded, if any."""
        ...

    def exclusive(self, stream_id: str, waiting: object | None = None) -> AbstractAsyncContextManager[list[Any]]:
        """Held while one command of this process loads, decides and appends on the stream; yields the stream's
        list of commands waiting to run together (`waiting` joins it)."""
        ...


Decide = Callable[[S | None], Sequence[DomainEvent]]


async def execute(
    store: EventStore,
    decider: Decider[S],
    stream_id: str,
    context: CommandContext,
    decide: Decide[S],
    *,
    retries: int = 3,
    creates: bool = False,
    fresh: bool = False,
    together: bool = False,
) -> AppendResult:
    """Run one command against one stream and return what it recorded.

    A retried idempotent command returns the original result: looked up when the command is refused
    or its append finds the key recorded, so a first run pays nothing for it. On a concurrency conflict the
    stream is reloaded and `decide` runs again (at most `retries` times, backing off with
    jitter), so the decision is always made against the version it is appended after: rules
    such as "no overspend" hold under concurrency. Pass retries=0 for commands that must not be
    re-decided after losing a race. A first decision that conflicts or is refused is always made
    once more on the stream as stored (`fresh`): it may have been made on a state this process
    remembered from before another process (a worker) moved the stream on; a conflicting append answers with
    the events the command missed (eventstore/batch.py), so that costs no extra read. Another tenant's
    stream (of a tenant-owned aggregate) is NotFound. With `creates`, the first attempt assumes a
    new, empty stream without loading it; if the stream exists, the append's version check fails
    and the command is decided again on the loaded stream. With `fresh` even the first decision is
    made on the stream as stored (for streams that other processes write as often as this one).

    With `together` (for a stream this process writes from many tasks at once, and commands that may be
    decided again: retries > 0), the commands waiting for the stream meanwhile run with this one: each decided
    on the state the ones before it leave, all appended in one statement (see `_run_together`).
    """
    try:
        if together:
            return await _together(store, decider, stream_id, _Waiting(context, decide), retries, fresh)
        async with store.exclusive(stream_id):
            return await _decide_and_append(store, decider, stream_id, context, decide, retries, creates, fresh)
    except DomainError:
        if (recalled := await store.recall(context)) is not None:  # a retry, refused now that it ran
            return recalled
        raise


@dataclass(eq=False)
class _Waiting:
    """A command waiting to run with the others of its stream, and its outcome once run."""

    context: CommandContext
    decide: Decide[Any]
    done: asyncio.Future[AppendResult] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


async def _together(
    store: EventStore, decider: Decider[S], stream_id: str, mine: _Waiting, retries: int, fresh: bool
) -> AppendResult:
    async with store.exclusive(stream_id, mine) as waiting:
        if not mine.done.done():  # no holder before took it: run everything waiting
            await _run_together(store, decider, stream_id, [w for w in waiting if not w.done.done()], retries, fresh)
    return mine.done.result()


async def _run_together(
    store: EventStore, decider: Decider[S], stream_id: str, batch: list[_Waiting], retries: int, fresh: bool
) -> None:
    """Run the commands of `batch` as one chain when they are several (see `_chain`); those it leaves unsettled
    (not written: the stream moved on, a key was recorded, an event refused, an outage; or another tenant's) run
    alone, as commands that arrive alone do."""
    if len(batch) > 1:
        tenant = batch[0].context.tenant_id
        await _chain(store, decider, stream_id, [w for w in batch if w.context.tenant_id == tenant], fresh)
    for w in batch:
        if w.done.done():
            continue
        try:
            w.done.set_result(
                await _decide_and_append(store, decider, stream_id, w.context, w.decide, retries, False, fresh)
            )
        except Exception as e:  # noqa: BLE001 - the command's caller raises it
            w.done.set_exception(e)


async def _chain(store: EventStore, decider: Decider[S], stream_id: str, batch: list[_Waiting], fresh: bool) -> None:
    """Decide each command on the state the ones before it leave and append all their events in one statement;
    settle every command once that is written. A refusal counts only then: the written chain proves the state
    it was decided on was the stream as stored (with nothing to write, each runs alone to decide on that).
    Settles nothing when anything fails: run alone, the idempotent commands find their results if the
    chain was written after all (a connection lost after the commit)."""
    tenant_id = batch[0].context.tenant_id if decider.tenant_owned else None
    outcomes: list[tuple[_Waiting, AppendResult | DomainError | int]] = []
    chain: list[tuple[Sequence[DomainEvent], CommandContext]] = []
    try:
        loaded = await store.load(decider, stream_id, tenant_id, fresh=fresh)
        state, version = loaded
        at = version
        for w in batch:
            try:
                events = w.decide(state)
            except DomainError as refused:
                outcomes.append((w, refused))
                continue
            if events:
                chain.append((events, w.context))
                state = decider.fold(events, state)
                outcomes.append((w, len(chain) - 1))
            else:
                outcomes.append((w, AppendResult(stream_id=stream_id, version=at, position=0)))
            at += len(events)
        if not chain:
            return
        results = await store.append_chain(stream_id, decider.stream_type, version, chain, state_after=state)
    except Exception:  # noqa: BLE001 - each command alone meets it again, if it lasts
        return
    for w, outcome in outcomes:
        if isinstance(outcome, DomainError):
            w.done.set_exception(outcome)
        else:
            w.done.set_result(results[outcome] if isinstance(outcome, int) else outcome)


async def _decide_and_append(
    store: EventStore,
    decider: Decider[S],
    stream_id: str,
    context: CommandContext,
    decide: Decide[S],
    retries: int,
    creates: bool,
    fresh: bool,
) -> AppendResult:
    tenant_id = context.tenant_id if decider.tenant_owned else None
    attempt, assume_new, maybe_stale = 0, creates, not fresh

    async def load(*, fresh: bool) -> tuple[S | None, int]:
        return await store.load(decider, stream_id, tenant_id, fresh=fresh)

    state, version = (None, 0) if creates else await load(fresh=fresh)
    while True:
        try:
            events = decide(state)
        except DomainError:  # refused: on the stream as stored, or on a state remembered from before?
            if not maybe_stale or assume_new:
                raise
            maybe_stale = False
            state, version = await load(fresh=True)
            continue
        try:
            return await store.append(
                stream_id, decider.stream_type, version, events, context, state_after=decider.fold(events, state)
            )
        except ConcurrencyConflict as conflict:
            if assume_new:  # the stream exists after all: decide on what it holds
                assume_new = False
                state, version = await load(fresh=not maybe_stale)
                continue
            if not maybe_stale:  # see the docstring: a remembered state gets one more try at once
                if attempt == retries:
                    raise
                attempt += 1
                # jittered, growing pause: writers that collided do not collide again in lockstep
                await asyncio.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))  # noqa: S311 - not crypto
            maybe_stale = False
            missed = conflict.missed()
            if missed is None:
                state, version = await load(fresh=True)
            else:  # the append returned what it missed: the stream as stored, without reading it again
                state, version = decider.fold(missed, state), conflict.actual


C = TypeVar("C")
Handler = Callable[[EventStore, CommandContext, C], Awaitable[AppendResult]]


def command(
    decider: Decider[S],
    stream_of: Callable[[C], str],
    decide: Callable[[S | None, C], Sequence[DomainEvent]],
    *,
    retries: int = 3,
    creates: bool = False,
    fresh: bool = False,
) -> Handler[C]:
    """The service function of one command: `await handler(store, context, command)`.

    `stream_of` names the stream the command addresses; `creates` marks commands that start a
    stream, `fresh` those decided on the stream as stored from the first try (see `execute`).
    """

    async def handle(store: EventStore, context: CommandContext, cmd: C) -> AppendResult:
        return await execute(
            store,
            decider,
            stream_of(cmd),
            context,
            lambda state: decide(state, cmd),
            retries=retries,
            creates=creates,
            fresh=fresh,
        )

    return handle
