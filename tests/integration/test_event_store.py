"""The Postgres event store on a real Postgres and registry: concurrency, idempotency, atomicity, snapshots."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from contracts.errors import EventRejected
from domain.decider import Decider
from domain.errors import ConcurrencyConflict, IdempotencyKeyReused
from domain.events import CommandContext, DomainEvent
from domain.service import execute
from domain.session.events import MessagePosted, Role, SessionStarted
from eventstore.store import PostgresEventStore


@dataclass(frozen=True, kw_only=True)
class Transcript:
    """A tiny test aggregate: the texts posted so far."""

    tenant_id: str
    texts: tuple[str, ...] = ()
    version: int = 0


def evolve(state: Transcript | None, event: DomainEvent) -> Transcript:
    if isinstance(event, SessionStarted):
        return Transcript(tenant_id=event.tenant_id, version=1)
    assert state is not None
    assert isinstance(event, MessagePosted)
    return replace(state, texts=(*state.texts, event.text), version=state.version + 1)


TRANSCRIPT = Decider("session", evolve, Transcript)


def context(**overrides) -> CommandContext:
    values = {"tenant_id": "acme", "correlation_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}
    return CommandContext(**{**values, **overrides})


def started(session: uuid.UUID) -> SessionStarted:
    return SessionStarted(session_id=session, tenant_id="acme")


def posted(session: uuid.UUID, text: object = "hello") -> MessagePosted:
    return MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text=text)  # type: ignore[arg-type]


async def count(store, stream_id: str) -> int:
    return int(await store.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream_id))


async def test_appended_events_load_back_with_metadata_in_order(event_store):
    session = uuid.uuid4()
    ctx = context()
    first = await event_store.append(str(session), "session", 0, [started(session), posted(session, "a")], ctx)
    second = await event_store.append(str(session), "session", 2, [posted(session, "b")], context())

    assert (first.version, second.version) == (2, 3)
    assert second.position > first.position
    state, version = await event_store.load(TRANSCRIPT, str(session))
    assert state == Transcript(tenant_id="acme", texts=("a", "b"), version=3)
    assert version == 3
    recorded = await event_store.read_stream(str(session))
    assert [r.meta.stream_version for r in recorded] == [1, 2, 3]
    assert recorded[0].meta.correlation_id == ctx.correlation_id
    assert [r.meta.event_id for r in recorded[:2]] == list(first.event_ids)


async def test_a_stale_expected_version_is_a_concurrency_conflict_with_both_versions_and_what_it_missed(event_store):
    session = uuid.uuid4()
    first, second = posted(session, "first"), posted(session, "second")
    await event_store.append(str(session), "session", 0, [started(session), first, second], context())

    with pytest.raises(ConcurrencyConflict) as conflict:
        await event_store.append(str(session), "session", 1, [posted(session)], context())

    assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == (str(session), 1, 3)
    assert conflict.value.missed() == [first, second]  # returned by the append itself, decoded
    assert await count(event_store, str(session)) == 3


async def test_in_one_group_statement_a_stale_command_gets_what_it_missed_and_the_others_land(event_store):
    stale, other = uuid.uuid4(), uuid.uuid4()
    theirs = posted(stale, "theirs")
    await event_store.append(str(stale), "session", 0, [started(stale), theirs], context())
    await event_store.append(str(other), "session", 0, [started(other)], context())

    outcomes = await asyncio.gather(
        event_store.append(str(stale), "session", 1, [posted(stale, "mine")], context()),
        *(event_store.append(str(uuid.uuid4()), "session", 0, [started(other)], context()) for _ in range(8)),
        event_store.append(str(other), "session", 1, [posted(other)], context()),
        return_exceptions=True,
    )

    conflict, *landed = outcomes
    assert isinstance(conflict, ConcurrencyConflict) and conflict.missed() == [theirs]
    assert not any(isinstance(o, Exception) for o in landed)


async def test_a_burst_of_commands_is_shared_out_over_the_lanes_each_its_own_transaction(event_store):
    sessions = [uuid.uuid4() for _ in range(30)]

    await asyncio.gather(*(event_store.append(str(s), "session", 0, [started(s)], context()) for s in sessions))

    # what waited when the lanes came free went out as 3 statements of 10 (eventstore/batch.py), not one of 30
    rows = await event_store.pool.fetch(
        "SELECT count(*) AS n FROM events WHERE stream_id = ANY($1::text[]) GROUP BY xmin::text",
        [str(s) for s in sessions],
    )
    assert sorted(row["n"] for row in rows) == [10, 10, 10]


async def test_of_many_concurrent_writers_at_the_same_version_exactly_one_wins(event_store):
    session = uuid.uuid4()
    await event_store.append(str(session), "session", 0, [started(session)], context())

    outcomes = await asyncio.gather(
        *(event_store.append(str(session), "session", 1, [posted(session, f"m{i}")], context()) for i in range(12)),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, ConcurrencyConflict) for o in outcomes if isinstance(o, Exception))
    assert await count(event_store, str(session)) == 2


async def test_execute_retries_conflicts_so_every_concurrent_command_lands_once(event_store):
    session = uuid.uuid4()
    await event_store.append(str(session), "session", 0, [started(session)], context())

    def post(text: str):
        return lambda state: [posted(session, text)]

    await asyncio.gather(
        *(execute(event_store, TRANSCRIPT, str(session), context(), post(f"m{i}"), retries=20) for i in range(8))
    )

    state, version = await event_store.load(TRANSCRIPT, str(session))
    assert version == 9
    assert sorted(state.texts) == sorted(f"m{i}" for i in range(8))


# one event: the single-row statement; two: the group function (eventstore/batch.py), whose rules must agree
@pytest.mark.parametrize("events", [1, 2], ids=["single-row-statement", "group-function"])
async def test_an_idempotent_retry_returns_the_original_result_and_appends_nothing(event_store, events):
    session = uuid.uuid4()
    ctx = context(idempotency_key=f"key-{uuid.uuid4()}", request_hash="h1")
    first = [started(session), posted(session)][:events]
    original = await execute(event_store, TRANSCRIPT, str(session), ctx, lambda s: first)

    retried = await execute(
        event_store, TRANSCRIPT, str(session), replace(ctx, correlation_id=uuid.uuid4()), lambda s: [posted(session)]
    )

    assert retried == original and original.version == events
    assert await count(event_store, str(session)) == events
    with pytest.raises(IdempotencyKeyReused):
        await execute(
            event_store, TRANSCRIPT, str(session), replace(ctx, request_hash="h2"), lambda s: [posted(session)]
        )


async def test_concurrent_retries_with_one_key_record_once(event_store):
    session = uuid.uuid4()
    await event_store.append(str(session), "session", 0, [started(session)], context())
    ctx = context(idempotency_key=f"key-{uuid.uuid4()}", request_hash="same")

    results = await asyncio.gather(
        *(event_store.append(str(session), "session", 1, [posted(session)], ctx) for _ in range(6)),
        return_exceptions=True,
    )

    assert await count(event_store, str(session)) == 2
    successes = [r for r in results if not isinstance(r, Exception)]
    assert successes
    assert all(r == successes[0] for r in successes)


async def test_one_invalid_event_refuses_the_whole_command_and_nothing_is_written(event_store):
    session = uuid.uuid4()
    with pytest.raises(EventRejected) as refused:
        await event_store.append(
            str(session), "session", 0, [started(session), posted(session, "fine"), posted(session, 42)], context()
        )

    assert "MessagePosted.text" in str(refused.value)
    assert await count(event_store, str(session)) == 0
    assert await event_store.pool.fetchval("SELECT count(*) FROM events") == 0


async def test_loading_from_a_snapshot_equals_replaying_every_event(event_store):
    session = uuid.uuid4()
    await execute(event_store, TRANSCRIPT, str(session), context(), lambda s: [started(session)])

    def post(text: str):
        return lambda state: [posted(session, text)]

    for i in range(11):
        await execute(event_store, TRANSCRIPT, str(session), context(), post(f"m{i}"))

    snapshot_version = await event_store.pool.fetchval(
        "SELECT version FROM snapshots WHERE stream_id = $1", str(session)
    )
    fresh = PostgresEventStore(event_store.pool, event_store.codec)  # no in-memory state: reads the snapshot
    loaded = await fresh.load(TRANSCRIPT, str(session))
    from_snapshot, version = loaded
    replayed = TRANSCRIPT.fold(r.event for r in await event_store.read_stream(str(session)))

    assert snapshot_version == 10  # snapshot_every=5 in the fixture
    assert version == 12
    assert from_snapshot == replayed
    assert from_snapshot is not None
    assert from_snapshot.texts == tuple(f"m{i}" for i in range(11))


async def test_concurrent_loads_of_many_streams_equal_loading_each_alone(event_store):
    long, *short = [uuid.uuid4() for _ in range(9)]
    for session in (long, *short):
        await event_store.append(str(session), "session", 0, [started(session)], context())

    def post(text: str):
        return lambda state: [posted(long, text)]

    for i in range(12):  # past a snapshot (snapshot_every=5 in the fixture)
        await execute(event_store, TRANSCRIPT, str(long), context(), post(f"m{i}"))
    for n, session in enumerate(short):
        await event_store.append(str(session), "session", 1, [posted(session, f"s{k}") for k in range(n)], context())
    streams = [str(s) for s in (long, *short, uuid.uuid4())]  # the last one was never written

    async def load(stream_id: str) -> tuple[Transcript | None, int]:  # by a store that remembers none of them
        return await PostgresEventStore(event_store.pool, event_store.codec).load(TRANSCRIPT, stream_id)

    together = await asyncio.gather(*map(load, streams))  # one burst, grouped into a few queries (eventstore/batch.py)
    alone = [await load(stream_id) for stream_id in streams]

    assert together == alone
    assert together[0] == (Transcript(tenant_id="acme", texts=tuple(f"m{i}" for i in range(12)), version=13), 13)
    assert [version for _, version in together[1:]] == [1, 2, 3, 4, 5, 6, 7, 8, 0]


async def test_a_writer_sees_events_another_writer_appended_after_its_own(event_store):
    session = uuid.uuid4()
    other = PostgresEventStore(event_store.pool, event_store.codec)
    await execute(event_store, TRANSCRIPT, str(session), context(), lambda s: [started(session)])
    await execute(other, TRANSCRIPT, str(session), context(), lambda s: [posted(session, "from the other")])

    result = await execute(event_store, TRANSCRIPT, str(session), context(), lambda s: [posted(session, "mine")])

    assert result.version == 3
    loaded = await PostgresEventStore(event_store.pool, event_store.codec).load(TRANSCRIPT, str(session))
    assert loaded == (Transcript(tenant_id="acme", texts=("from the other", "mine"), version=3), 3)


async def test_a_chain_of_commands_on_one_stream_is_one_statement_and_each_key_keeps_its_own_result(event_store):
    session = uuid.uuid4()
    await event_store.append(str(session), "session", 0, [started(session)], context())
    contexts = [context(idempotency_key=f"chain-{uuid.uuid4()}", request_hash="h") for _ in range(3)]
    commands = [
        ([posted(session, "a"), posted(session, "b")], contexts[0]),
        *(([posted(session)], c) for c in contexts[1:]),
    ]

    results = await event_store.append_chain(str(session), "session", 1, commands)

    assert [r.version for r in results] == [3, 4, 5]
    assert [await event_store.recall(c) for c in contexts] == results  # each with the position of its own last event
    assert len({r.position for r in results}) == 3
    transactions = await event_store.pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE stream_id = $1 AND version > 1", str(session)
    )
    assert transactions == 1


async def test_a_chain_with_one_recorded_key_writes_nothing(event_store):
    session = uuid.uuid4()
    done = context(idempotency_key=f"done-{uuid.uuid4()}", request_hash="h")
    await event_store.append(str(session), "session", 0, [started(session)], done)
    fresh = context(idempotency_key=f"fresh-{uuid.uuid4()}", request_hash="h")

    with pytest.raises(ConcurrencyConflict):
        await event_store.append_chain(
            str(session), "session", 1, [([posted(session)], fresh), ([posted(session)], done)]
        )

    assert await count(event_store, str(session)) == 1
    assert await event_store.recall(fresh) is None
