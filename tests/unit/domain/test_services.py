"""The command services' rules without a server: budgets never overspend and record their refusals,
a session starts with its first message, references must name the caller's own sessions.

The store is the real Repository over the RowsRecorder double of our Recorder port; the same services
run against Postgres in tests/integration/test_command_services.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest

from domain.budget.aggregate import DECIDER as USAGE
from domain.budget.aggregate import DEFAULT_PERSONA
from domain.budget.aggregate import stream_id as usage_stream
from domain.budget.commands import ConsumeTokens, ReserveTokens, SetBudgetLimit, SettleReservation
from domain.budget.errors import BudgetExhausted, ReservationNotOpen
from domain.budget.events import BudgetExceeded, ReservationSettled, TokensConsumed, TokensReserved
from domain.budget.service import consume_tokens, require_budget, reserve_tokens, set_budget_limit, settle_tokens
from domain.delegation.commands import CreateDelegationTask
from domain.delegation.service import create_task
from domain.errors import NotFound
from domain.events import AppendResult, CommandContext
from domain.repository import Repository
from domain.session.commands import PostUserMessage, StartSession
from domain.session.errors import SessionAlreadyStarted
from domain.session.events import MessagePosted, SessionStarted
from domain.session.service import StartWithMessage, require_budget_for, start_with_message
from domain.tool.commands import RequestTool
from domain.tool.service import request_tool
from tests.support.recorder import RowsRecorder

DAY = date(2026, 3, 1)


def ctx(tenant: str, key: str | None = None) -> CommandContext:
    return CommandContext(
        tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC), idempotency_key=key
    )


@pytest.fixture
def recorder() -> RowsRecorder:
    return RowsRecorder()


@pytest.fixture
def store(recorder: RowsRecorder) -> Repository:
    return Repository(recorder)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


async def limit(store: Repository, tenant: str, persona: str | None, tokens: int) -> None:
    await set_budget_limit(
        store, ctx(tenant), SetBudgetLimit(tenant_id=tenant, persona_id=persona, daily_tokens=tokens)
    )


def events_of(recorder: RowsRecorder, stream: str) -> list[object]:
    return [event for _, event in recorder.streams.get(stream, [])]


def charge(tenant: str, tokens: int, persona: str = "helper") -> ConsumeTokens:
    return ConsumeTokens(tenant_id=tenant, persona_id=persona, day=DAY, tokens=tokens)


async def test_charges_within_the_limit_are_recorded_and_the_one_past_it_is_refused_and_recorded_once(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, "helper", 100)
    first = await consume_tokens(store, ctx(tenant, "k1"), charge(tenant, 60))

    with pytest.raises(BudgetExhausted) as refused:
        await consume_tokens(store, ctx(tenant, "k2"), charge(tenant, 50))

    stream = usage_stream(tenant, "helper", DAY)
    assert first.stream_id == stream and first.version == 1
    assert (refused.value.requested, refused.value.remaining, refused.value.limit) == (50, 40, 100)
    consumed, exceeded = events_of(recorder, stream)
    assert isinstance(consumed, TokensConsumed) and consumed.used_after == 60
    assert exceeded == BudgetExceeded(
        tenant_id=tenant, persona_id="helper", day=DAY, requested=50, remaining=40, limit=100
    )
    assert "k2" not in recorder.results  # the refusal is not the command's result: a retry is decided afresh


async def test_a_refused_charge_retried_after_the_limit_was_raised_is_charged(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, "helper", 10)
    with pytest.raises(BudgetExhausted):
        await consume_tokens(store, ctx(tenant, "retry-me"), charge(tenant, 20))
    await limit(store, tenant, "helper", 100)

    result = await consume_tokens(store, ctx(tenant, "retry-me"), charge(tenant, 20))

    assert result.version == 2  # after the BudgetExceeded of the first try
    assert isinstance(events_of(recorder, result.stream_id)[-1], TokensConsumed)


async def test_another_tenants_charge_on_a_usage_stream_is_not_found(store: Repository, tenant: str):
    await consume_tokens(store, ctx(tenant), charge(tenant, 5))

    with pytest.raises(NotFound):
        await consume_tokens(store, ctx("intruder"), charge(tenant, 5))


async def test_a_refused_reservation_is_recorded_once_under_its_key_however_often_it_is_redelivered(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, None, 30)
    reservation = ReserveTokens(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=uuid.uuid4(), tokens=50)

    for _ in range(3):
        with pytest.raises(BudgetExhausted):
            await reserve_tokens(store, ctx(tenant, "call-1"), reservation)

    stream = usage_stream(tenant, "p", DAY)
    assert events_of(recorder, stream) == [
        BudgetExceeded(tenant_id=tenant, persona_id="p", day=DAY, requested=50, remaining=30, limit=30)
    ]
    assert recorder.results["call-1:refused"].stream_id == stream
    assert "call-1" not in recorder.results


async def test_a_refused_reservation_without_a_key_is_recorded_each_time(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, None, 0)
    reservation = ReserveTokens(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=uuid.uuid4(), tokens=1)

    for _ in range(2):
        with pytest.raises(BudgetExhausted):
            await reserve_tokens(store, ctx(tenant), reservation)

    assert len(events_of(recorder, usage_stream(tenant, "p", DAY))) == 2
    assert not any(key.endswith(":refused") for key in recorder.results)


async def test_a_reservation_is_settled_once_at_what_the_call_used(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, "p", 100)
    rid = uuid.uuid4()
    reserved = await reserve_tokens(
        store, ctx(tenant), ReserveTokens(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=rid, tokens=80)
    )
    settle = SettleReservation(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=rid, actual_tokens=30)

    settled = await settle_tokens(store, ctx(tenant), settle)
    with pytest.raises(ReservationNotOpen):
        await settle_tokens(store, ctx(tenant), settle)

    assert (reserved.version, settled.version) == (1, 2)
    kept, done = events_of(recorder, settled.stream_id)
    assert isinstance(kept, TokensReserved) and kept.used_after == 80
    assert isinstance(done, ReservationSettled) and (done.charged, done.used_after) == (30, 30)
    loaded = await store.load(USAGE, settled.stream_id, tenant, fresh=True)
    assert loaded[0] is not None and loaded[0].used == 30


async def test_require_budget_refuses_only_a_persona_with_no_tokens_left(store: Repository, tenant: str):
    await limit(store, tenant, "spent", 10)
    await consume_tokens(store, ctx(tenant), charge(tenant, 10, persona="spent"))

    await require_budget(store, tenant, "fresh", DAY)
    with pytest.raises(BudgetExhausted) as refused:
        await require_budget(store, tenant, "spent", DAY)
    assert (refused.value.persona_id, refused.value.remaining, refused.value.limit) == ("spent", 0, 10)


def opening(tenant: str, persona: str | None = None) -> StartWithMessage:
    session = uuid.uuid4()
    return StartWithMessage(
        start=StartSession(session_id=session, tenant_id=tenant, persona_id=persona),
        message=PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text="hello"),
    )


async def test_a_session_starts_with_its_first_message_in_one_append_and_only_once(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    cmd = opening(tenant)

    result = await start_with_message(store, ctx(tenant), cmd)
    with pytest.raises(SessionAlreadyStarted):
        await start_with_message(store, ctx(tenant), cmd)

    started, posted = events_of(recorder, result.stream_id)
    assert result.version == 2
    assert isinstance(started, SessionStarted) and started.session_id == cmd.start.session_id
    assert isinstance(posted, MessagePosted) and posted.text == "hello"


@pytest.mark.parametrize(
    ("session_persona", "given", "charged"),
    [("own", "other", "own"), (None, "other", "other"), (None, None, DEFAULT_PERSONA)],
)
async def test_a_message_is_judged_against_the_budget_of_the_persona_it_would_go_to(
    store: Repository, tenant: str, session_persona: str | None, given: str | None, charged: str
):
    cmd = opening(tenant, session_persona)
    await start_with_message(store, ctx(tenant), cmd)
    await limit(store, tenant, charged, 0)

    with pytest.raises(BudgetExhausted) as refused:
        await require_budget_for(store, tenant, cmd.start.session_id, given, DAY)
    assert refused.value.persona_id == charged
    await require_budget_for(store, tenant, None, "someone-else", DAY)  # a persona with tokens left passes


async def test_another_tenants_session_is_not_found_when_judging_a_budget(store: Repository, tenant: str):
    cmd = opening(tenant)
    await start_with_message(store, ctx(tenant), cmd)
    session_id = cmd.start.session_id

    with pytest.raises(NotFound):
        await require_budget_for(store, "intruder", session_id, None, DAY)


async def test_a_tool_request_may_name_only_a_session_of_the_callers_tenant(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    cmd = opening(tenant)
    await start_with_message(store, ctx(tenant), cmd)
    session_id = cmd.start.session_id

    def asking(session: uuid.UUID | None) -> RequestTool:
        return RequestTool(request_id=uuid.uuid4(), tool_name="calc", arguments_json="{}", session_id=session)

    mine = await request_tool(store, ctx(tenant), asking(session_id))
    alone = await request_tool(store, ctx(tenant), asking(None))
    for caller, session in (("intruder", session_id), (tenant, uuid.uuid4())):
        with pytest.raises(NotFound) as refused:
            await request_tool(store, ctx(caller), asking(session))
        assert refused.value.field == "session_id"
        assert str(refused.value) == f"session {session} not found (session_id: name one of the caller's sessions)"

    assert mine.version == 1 and alone.version == 1
    assert [h[0] for h in recorder.heads.values()].count("tool") == 2  # the refused ones recorded nothing


async def test_a_delegation_task_may_name_only_a_parent_session_of_the_callers_tenant(store: Repository, tenant: str):
    cmd = opening(tenant)
    await start_with_message(store, ctx(tenant), cmd)
    session_id = cmd.start.session_id

    def task(parent: uuid.UUID | None) -> CreateDelegationTask:
        return CreateDelegationTask(task_id=uuid.uuid4(), title="t", instructions="do", parent_session_id=parent)

    assert (await create_task(store, ctx(tenant), task(session_id))).version == 1
    assert (await create_task(store, ctx(tenant), task(None))).version == 1
    with pytest.raises(NotFound) as refused:
        await create_task(store, ctx("intruder"), task(session_id))
    assert refused.value.field == "parent_session_id"


async def test_reservations_of_many_tasks_at_once_go_in_chains_and_never_pass_the_limit(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    """Many conversations of one process reserving one persona's budget: run together, decided in turn."""
    await limit(store, tenant, "p", 150)
    reservations = [
        ReserveTokens(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=uuid.uuid4(), tokens=10)
        for _ in range(20)
    ]

    outcomes = await asyncio.gather(
        *(reserve_tokens(store, ctx(tenant, f"call-{i}"), r) for i, r in enumerate(reservations)),
        return_exceptions=True,
    )

    reserved = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(reserved) == 15 and all(isinstance(o, BudgetExhausted) for o in outcomes[15:])
    assert sorted(r.version for r in reserved) == list(range(1, 16))  # each its own version, none lost
    assert max(recorder.chains) > 1  # written together, not one statement each
    events = events_of(recorder, usage_stream(tenant, "p", DAY))
    assert [e.used_after for e in events if isinstance(e, TokensReserved)] == list(range(10, 160, 10))
    assert sum(isinstance(e, BudgetExceeded) for e in events) == 5  # each refusal recorded, once
    assert store._locks == {}  # nothing kept once no command waits


async def test_a_redelivered_command_in_a_chain_returns_its_first_result_and_the_others_are_recorded_once(
    store: Repository, recorder: RowsRecorder, tenant: str
):
    await limit(store, tenant, "p", 1_000)
    first = await consume_tokens(store, ctx(tenant, "again"), charge(tenant, 10, persona="p"))

    unknown = SettleReservation(tenant_id=tenant, persona_id="p", day=DAY, reservation_id=uuid.uuid4(), actual_tokens=1)

    # the first to come runs alone; those that wait meanwhile, the redelivery among them, are tried together
    lead, again, refused, *others = await asyncio.gather(
        consume_tokens(store, ctx(tenant, "lead"), charge(tenant, 10, persona="p")),
        consume_tokens(store, ctx(tenant, "again"), charge(tenant, 10, persona="p")),
        settle_tokens(store, ctx(tenant, "unknown"), unknown),
        *(consume_tokens(store, ctx(tenant, f"new-{i}"), charge(tenant, 10, persona="p")) for i in range(2)),
        return_exceptions=True,
    )

    assert recorder.chains == [4]  # the four that waited: refused whole for the recorded key, then each alone
    assert again == first  # it found its first result
    assert isinstance(refused, ReservationNotOpen)  # its own refusal, no one else's
    landed = [lead, *others]
    assert all(isinstance(o, AppendResult) for o in landed)
    assert sorted(o.version for o in landed if isinstance(o, AppendResult)) == [2, 3, 4]
    assert len(events_of(recorder, usage_stream(tenant, "p", DAY))) == 4
