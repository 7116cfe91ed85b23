"""The repository's rules without a server: stream types, tenancy, a stale memory, snapshots, retries.

The recorder here is a test double of our own port (domain.repository.Recorder), holding rows in a
dict; the Postgres recorder is tested against a real server in tests/integration/test_event_store.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.delegation.aggregate import DECIDER as TASKS
from domain.errors import NotFound
from domain.events import CommandContext, DomainEvent
from domain.repository import Repository
from domain.service import execute
from domain.session.aggregate import DECIDER as SESSIONS
from domain.session.events import MessagePosted, Role, SessionStarted
from tests.support.recorder import RowsRecorder


def ctx(tenant: str = "acme", key: str | None = None) -> CommandContext:
    return CommandContext(
        tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC), idempotency_key=key
    )


def message(session: uuid.UUID, text: str = "hi") -> MessagePosted:
    return MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text=text)


async def started(repo: Repository, tenant: str = "acme") -> uuid.UUID:
    session = uuid.uuid4()
    await execute(
        repo, SESSIONS, str(session), ctx(tenant), lambda _: [SessionStarted(session_id=session, tenant_id=tenant)]
    )
    return session


async def test_a_snapshot_is_taken_every_n_events_and_a_new_process_folds_only_what_follows_it():
    recorder = RowsRecorder()
    repo = Repository(recorder, snapshot_every=5)
    session = await started(repo)
    for i in range(11):
        text = f"m{i}"
        await execute(repo, SESSIONS, str(session), ctx(), lambda _: [message(session, text)])  # noqa: B023

    assert recorder.snapshots[str(session)][0] == 10
    fresh = Repository(recorder)  # another process: nothing remembered
    loaded = await fresh.load(SESSIONS, str(session))
    state, version = loaded
    assert version == 12 and state is not None and state.message_count == 11
    assert loaded == await repo.load(SESSIONS, str(session))


async def test_an_id_of_another_kind_of_aggregate_is_not_found_remembered_or_not():
    recorder = RowsRecorder()
    repo = Repository(recorder)
    session = await started(repo)

    with pytest.raises(NotFound):
        await repo.load(TASKS, str(session))  # remembered as a session
    with pytest.raises(NotFound):
        await Repository(recorder).load(TASKS, str(session))  # read from the recorder


async def test_another_tenants_stream_is_not_found_and_nothing_is_recorded():
    recorder = RowsRecorder()
    repo = Repository(recorder)
    session = await started(repo, tenant="acme")

    with pytest.raises(NotFound):
        await execute(repo, SESSIONS, str(session), ctx("intruder"), lambda _: [message(session)])
    assert len(recorder.streams[str(session)]) == 1


@pytest.mark.parametrize("returns_missed", [True, False], ids=["conflict-carries-missed", "conflict-without"])
async def test_a_state_another_process_moved_past_is_caught_up_and_the_command_decided_again(returns_missed):
    recorder = RowsRecorder(returns_missed=returns_missed)
    mine, theirs = Repository(recorder), Repository(recorder)
    session = await started(mine)
    await execute(theirs, SESSIONS, str(session), ctx(), lambda _: [message(session, "theirs")])
    reads = recorder.reads
    seen: list[int] = []

    def decide(state) -> list[DomainEvent]:
        seen.append(state.message_count)
        return [message(session, "mine")]

    result = await execute(mine, SESSIONS, str(session), ctx(), decide)

    assert seen == [0, 1]  # first against the stale memory, then against the stream as it is
    assert result.version == 3
    # the conflict carried what the other process recorded; else only that was read
    assert (recorder.reads, recorder.catch_ups) == (reads, 0 if returns_missed else 1)


async def test_a_fresh_load_reads_only_the_events_after_the_remembered_state():
    recorder = RowsRecorder()
    mine, theirs = Repository(recorder), Repository(recorder)
    session = await started(mine)
    await execute(theirs, SESSIONS, str(session), ctx(), lambda _: [message(session, "one"), message(session, "two")])
    reads = recorder.reads

    remembered = (await mine.load(SESSIONS, str(session)))[0]
    loaded = await mine.load(SESSIONS, str(session), fresh=True)
    state, version = loaded

    assert remembered is not None and remembered.message_count == 0  # as this process last saw it
    assert state is not None and (state.message_count, version) == (2, 3)
    assert (recorder.reads, recorder.catch_ups) == (reads, 1)
    assert await mine.load(SESSIONS, str(session)) == (state, 3)  # remembered as caught up


async def test_a_retried_idempotent_command_returns_the_first_result_and_records_nothing():
    recorder = RowsRecorder()
    repo = Repository(recorder)
    session = await started(repo)
    first = await execute(repo, SESSIONS, str(session), ctx(key="k1"), lambda _: [message(session)])
    again = await execute(repo, SESSIONS, str(session), ctx(key="k1"), lambda _: [message(session, "other")])

    assert again == first
    assert len(recorder.streams[str(session)]) == 2


async def test_a_command_that_may_not_be_retried_is_still_decided_again_on_a_stale_remembered_state():
    """Once a 409: the API remembered a task at version 1 while a worker had started it."""
    from domain.delegation.commands import CompleteDelegationTask, CreateDelegationTask, StartDelegationTask
    from domain.delegation.service import complete_task, create_task, start_task

    recorder = RowsRecorder()
    api, worker = Repository(recorder), Repository(recorder)
    task = uuid.uuid4()
    await create_task(api, ctx(), CreateDelegationTask(task_id=task, title="t", instructions="i"))
    await start_task(worker, ctx(), StartDelegationTask(task_id=task, worker="w"))

    result = await complete_task(api, ctx(), CompleteDelegationTask(task_id=task, result="done"))

    assert result.version == 3


async def test_commands_of_one_process_on_one_stream_take_turns_instead_of_colliding():
    """Many conversations charging one persona's budget: each decided once, none refused for a race."""
    recorder = RowsRecorder()
    repo = Repository(recorder)
    session = await started(repo)
    decided: list[int] = []

    def decide(state: Any) -> list[DomainEvent]:
        decided.append(state.message_count)
        return [message(session)]

    await asyncio.gather(*(execute(repo, SESSIONS, str(session), ctx(), decide, retries=0) for _ in range(20)))

    assert len(recorder.streams[str(session)]) == 21
    assert decided == list(range(20))  # in turn, each on the state the one before left
    assert repo._locks == {}  # nothing kept once no command waits


async def test_a_fresh_command_is_decided_once_on_the_stream_as_stored():
    recorder = RowsRecorder()
    mine, theirs = Repository(recorder), Repository(recorder)
    session = await started(mine)
    await execute(theirs, SESSIONS, str(session), ctx(), lambda _: [message(session, "theirs")])
    seen: list[int] = []

    def decide(state) -> list[DomainEvent]:
        seen.append(state.message_count)
        return [message(session, "mine")]

    result = await execute(mine, SESSIONS, str(session), ctx(), decide, fresh=True)

    assert seen == [1] and result.version == 3  # no decision on the state it remembered, no conflict
