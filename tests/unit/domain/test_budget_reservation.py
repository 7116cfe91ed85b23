"""Reserving tokens before a model call and settling after: within the limit, never charged past the reservation."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from domain.budget import aggregate as budget
from domain.budget.commands import ReserveTokens, SettleReservation
from domain.budget.errors import BudgetExhausted, ReservationNotOpen
from domain.budget.events import BudgetExceeded, BudgetLimitSet, ReservationSettled, TokensReserved
from domain.budget.reservation import reserve, settle
from domain.errors import InvalidCommand, NotFound
from domain.events import DomainEvent

TENANT, PERSONA, DAY = "acme", "helper", date(2025, 3, 14)
LIMITS = budget.LIMITS_DECIDER.fold([BudgetLimitSet(tenant_id=TENANT, persona_id=PERSONA, daily_tokens=100)])


def reserving(tokens: int, rid: uuid.UUID | None = None) -> ReserveTokens:
    return ReserveTokens(
        tenant_id=TENANT, persona_id=PERSONA, day=DAY, reservation_id=rid or uuid.uuid4(), tokens=tokens
    )


def settling(rid: uuid.UUID, actual: int) -> SettleReservation:
    return SettleReservation(tenant_id=TENANT, persona_id=PERSONA, day=DAY, reservation_id=rid, actual_tokens=actual)


def usage_after(*events: DomainEvent) -> Any:
    return budget.DECIDER.fold(events)


def test_a_reservation_counts_as_used_until_settled_and_the_settlement_charges_what_was_used():
    rid = uuid.uuid4()
    reserved = reserve(None, LIMITS, reserving(60, rid))
    assert reserved == [
        TokensReserved(
            tenant_id=TENANT, persona_id=PERSONA, day=DAY, reservation_id=rid, tokens=60, used_after=60, limit=100
        )
    ]
    state = usage_after(*reserved)
    assert state.used == 60 and state.reservations == {str(rid): 60}

    settled = settle(state, LIMITS, settling(rid, 25))
    first: Any = settled[0]
    assert first.charged == 25 and first.used_after == 25
    after = usage_after(*reserved, *settled)
    assert after.used == 25 and after.reservations == {}


def test_a_call_that_used_more_than_its_reservation_is_charged_the_reservation_and_the_overrun_is_recorded():
    rid = uuid.uuid4()
    state = usage_after(*reserve(None, LIMITS, reserving(90, rid)))
    [event] = settle(state, LIMITS, settling(rid, 150))
    assert isinstance(event, ReservationSettled)
    assert (event.reserved, event.actual, event.charged, event.used_after) == (90, 150, 90, 90)


def test_a_reservation_past_the_limit_is_refused_reserving_nothing():
    state = usage_after(*reserve(None, LIMITS, reserving(70)))
    with pytest.raises(BudgetExhausted) as refused:
        reserve(state, LIMITS, reserving(31))
    assert (refused.value.requested, refused.value.remaining, refused.value.limit) == (31, 30, 100)
    last: Any = reserve(state, LIMITS, reserving(30))[0]
    assert last.used_after == 100


def test_settling_twice_or_an_unknown_reservation_is_refused():
    rid = uuid.uuid4()
    reserved = reserve(None, LIMITS, reserving(10, rid))
    settled = settle(usage_after(*reserved), LIMITS, settling(rid, 5))
    with pytest.raises(ReservationNotOpen):
        settle(usage_after(*reserved, *settled), LIMITS, settling(rid, 5))
    with pytest.raises(ReservationNotOpen):
        settle(None, LIMITS, settling(uuid.uuid4(), 5))
    with pytest.raises(InvalidCommand, match="actual_tokens"):
        settle(usage_after(*reserved), LIMITS, settling(rid, -1))
    with pytest.raises(InvalidCommand, match="tokens"):
        reserve(None, LIMITS, reserving(0))


def test_reserving_an_open_reservation_again_records_nothing():
    rid = uuid.uuid4()
    assert reserve(usage_after(*reserve(None, LIMITS, reserving(10, rid))), LIMITS, reserving(10, rid)) == []


def test_a_reservation_on_another_tenants_stream_is_not_found():
    other = ReserveTokens(tenant_id="other", persona_id=PERSONA, day=DAY, reservation_id=uuid.uuid4(), tokens=1)
    with pytest.raises(NotFound):
        reserve(usage_after(*reserve(None, LIMITS, reserving(1))), None, other)


def test_a_refusal_exhausts_the_day_until_the_limit_is_raised():
    state = usage_after(*reserve(None, LIMITS, reserving(50)))
    budget.require_tokens_left(state, LIMITS, PERSONA, DAY)  # 50 left: new work is let in
    refusal = BudgetExceeded(tenant_id=TENANT, persona_id=PERSONA, day=DAY, requested=80, remaining=50, limit=100)
    refused = usage_after(*reserve(None, LIMITS, reserving(50)), refusal)
    with pytest.raises(BudgetExhausted):
        budget.require_tokens_left(refused, LIMITS, PERSONA, DAY)
    raised = budget.LIMITS_DECIDER.fold([BudgetLimitSet(tenant_id=TENANT, persona_id=PERSONA, daily_tokens=200)])
    budget.require_tokens_left(refused, raised, PERSONA, DAY)
