"""Budget decisions: limits per tenant and persona, charging tokens per UTC day, refusing overspend."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.budget import aggregate as budget
from domain.budget.commands import ConsumeTokens, SetBudgetLimit
from domain.budget.errors import BudgetExhausted
from domain.budget.events import BudgetExceeded, BudgetLimitSet, TokensConsumed
from domain.errors import DomainError, InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent

TENANT, PERSONA, DAY = "acme", "helper", date(2025, 3, 14)


def given_limits(*events: DomainEvent) -> budget.BudgetLimits | None:
    return budget.LIMITS_DECIDER.fold(events)


def given_usage(*events: DomainEvent) -> budget.BudgetUsage | None:
    return budget.DECIDER.fold(events)


def limit_set(daily_tokens: int, persona: str | None = None, tenant: str = TENANT) -> BudgetLimitSet:
    return BudgetLimitSet(tenant_id=tenant, persona_id=persona, daily_tokens=daily_tokens)


def consumed(tokens: int, used_after: int, limit: int = 100, persona: str = PERSONA, day: date = DAY) -> TokensConsumed:
    return TokensConsumed(
        tenant_id=TENANT, persona_id=persona, day=day, tokens=tokens, used_after=used_after, limit=limit
    )


def consume(tokens: int, persona: str = PERSONA, day: date = DAY, tenant: str = TENANT, **extra: Any) -> ConsumeTokens:
    return ConsumeTokens(tenant_id=tenant, persona_id=persona, day=day, tokens=tokens, **extra)


# limits


def test_setting_the_tenant_default_and_a_persona_override():
    default = budget.set_limit(given_limits(), SetBudgetLimit(tenant_id=TENANT, persona_id=None, daily_tokens=500))
    override = budget.set_limit(
        given_limits(*default), SetBudgetLimit(tenant_id=TENANT, persona_id=PERSONA, daily_tokens=50)
    )
    assert default == [limit_set(500)]
    assert override == [limit_set(50, PERSONA)]
    assert given_limits(*default, *override) == budget.BudgetLimits(
        tenant_id=TENANT, default_daily_tokens=500, persona_daily_tokens={PERSONA: 50}, version=2
    )


def test_a_later_limit_replaces_an_earlier_one():
    state = given_limits(limit_set(10, PERSONA), limit_set(20, PERSONA), limit_set(1), limit_set(2))
    assert state is not None
    assert (state.persona_daily_tokens, state.default_daily_tokens) == ({PERSONA: 20}, 2)


def test_a_zero_limit_is_allowed_and_a_negative_one_is_invalid():
    assert budget.set_limit(given_limits(), SetBudgetLimit(tenant_id=TENANT, persona_id=None, daily_tokens=0))
    with pytest.raises(InvalidCommand) as raised:
        budget.set_limit(given_limits(), SetBudgetLimit(tenant_id=TENANT, persona_id=None, daily_tokens=-1))
    assert raised.value.field == "daily_tokens"


def test_a_blank_persona_override_is_invalid():
    with pytest.raises(InvalidCommand) as raised:
        budget.set_limit(given_limits(), SetBudgetLimit(tenant_id=TENANT, persona_id=" ", daily_tokens=1))
    assert raised.value.field == "persona_id"


def test_limits_of_another_tenant_are_not_found():
    with pytest.raises(NotFound) as raised:
        budget.set_limit(given_limits(limit_set(1)), SetBudgetLimit(tenant_id="other", persona_id=None, daily_tokens=1))
    assert raised.value.stream_id == "budget-limits:other"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ((), budget.DEFAULT_DAILY_TOKENS),
        ((limit_set(7, "someone-else"),), budget.DEFAULT_DAILY_TOKENS),
        ((limit_set(500),), 500),
        ((limit_set(500), limit_set(50, PERSONA)), 50),
        ((limit_set(50, PERSONA), limit_set(500)), 50),
        ((limit_set(0, PERSONA),), 0),
    ],
    ids=["nothing-set", "other-persona", "tenant-default", "override", "override-before-default", "zero-override"],
)
def test_the_limit_is_the_override_else_the_tenant_default_else_the_constant(events, expected):
    assert budget.resolve_limit(given_limits(*events), PERSONA) == expected
    assert budget.DEFAULT_DAILY_TOKENS == 100_000


# usage


def test_tokens_within_the_limit_are_charged_with_the_balance_after():
    session_id = uuid.uuid4()
    command = consume(30, session_id=session_id, cost_usd=Decimal("0.0042"))
    events = budget.consume(given_usage(consumed(60, 60)), given_limits(limit_set(100)), command)
    assert events == [
        TokensConsumed(
            tenant_id=TENANT,
            persona_id=PERSONA,
            day=DAY,
            tokens=30,
            used_after=90,
            limit=100,
            session_id=session_id,
            cost_usd=Decimal("0.0042"),
        )
    ]


def test_a_first_charge_of_the_day_uses_the_default_limit():
    events = budget.consume(None, None, consume(1))
    assert events == [consumed(1, 1, limit=budget.DEFAULT_DAILY_TOKENS)]


def test_using_exactly_the_whole_limit_is_allowed():
    events = budget.consume(given_usage(consumed(60, 60)), given_limits(limit_set(100)), consume(40))
    assert events == [consumed(40, 100)]


def test_overspending_is_refused_with_the_numbers_and_the_event_to_record():
    with pytest.raises(BudgetExhausted) as raised:
        budget.consume(given_usage(consumed(60, 60)), given_limits(limit_set(100)), consume(41))
    error = raised.value
    assert isinstance(error, DomainError)
    assert (error.tenant_id, error.persona_id, error.day) == (TENANT, PERSONA, DAY)
    assert (error.requested, error.remaining, error.limit) == (41, 40, 100)
    assert error.event == BudgetExceeded(
        tenant_id=TENANT, persona_id=PERSONA, day=DAY, requested=41, remaining=40, limit=100
    )


def test_a_zero_limit_refuses_everything():
    with pytest.raises(BudgetExhausted) as raised:
        budget.consume(None, given_limits(limit_set(0, PERSONA)), consume(1))
    assert (raised.value.remaining, raised.value.limit) == (0, 0)


def test_a_limit_lowered_below_the_usage_leaves_nothing_remaining():
    with pytest.raises(BudgetExhausted) as raised:
        budget.consume(given_usage(consumed(80, 80)), given_limits(limit_set(50)), consume(1))
    assert raised.value.remaining == 0


def test_a_recorded_refusal_charges_nothing():
    exceeded = BudgetExceeded(tenant_id=TENANT, persona_id=PERSONA, day=DAY, requested=50, remaining=40, limit=100)
    state = given_usage(consumed(60, 60), exceeded)
    assert state is not None
    assert (state.used, state.version) == (60, 2)
    assert budget.consume(state, given_limits(limit_set(100)), consume(40)) == [consumed(40, 100)]


def test_a_new_day_starts_from_zero():
    tomorrow = date(2025, 3, 15)
    assert budget.stream_id(TENANT, PERSONA, tomorrow) != budget.stream_id(TENANT, PERSONA, DAY)
    events = budget.consume(None, given_limits(limit_set(100)), consume(100, day=tomorrow))
    assert events == [consumed(100, 100, day=tomorrow)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tokens": 0}, "tokens"),
        ({"tokens": -5}, "tokens"),
        ({"cost_usd": Decimal("-0.01")}, "cost_usd"),
        ({"cost_usd": Decimal("NaN")}, "cost_usd"),
        ({"persona": ""}, "persona_id"),
    ],
)
def test_an_invalid_charge_names_the_field(changes, field):
    values = {"tokens": 1, **changes}
    with pytest.raises(InvalidCommand) as raised:
        budget.consume(None, None, consume(**values))
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("command", "stream_id"),
    [
        (consume(1, persona="other"), "budget:acme:other:2025-03-14"),
        (consume(1, day=date(2025, 3, 15)), "budget:acme:helper:2025-03-15"),
        (consume(1, tenant="other"), "budget:other:helper:2025-03-14"),
    ],
    ids=["persona", "day", "tenant"],
)
def test_usage_of_another_stream_is_not_found(command, stream_id):
    with pytest.raises(NotFound) as raised:
        budget.consume(given_usage(consumed(1, 1)), None, command)
    assert raised.value.stream_id == stream_id


def test_limits_of_another_tenant_are_not_used_for_a_charge():
    with pytest.raises(NotFound) as raised:
        budget.consume(None, given_limits(limit_set(5, tenant="other")), consume(1))
    assert raised.value.stream_id == "budget-limits:acme"


def test_events_of_the_other_stream_are_a_corrupted_stream():
    with pytest.raises(UnexpectedEvent):
        given_usage(limit_set(1))
    with pytest.raises(UnexpectedEvent):
        given_limits(consumed(1, 1))


def test_folding_every_event_counts_them_in_the_version():
    usage_events = [
        consumed(10, 10),
        BudgetExceeded(tenant_id=TENANT, persona_id=PERSONA, day=DAY, requested=99, remaining=90, limit=100),
        consumed(5, 15),
    ]
    limit_events = [limit_set(100), limit_set(10, PERSONA), limit_set(20, PERSONA)]
    usage, limits = budget.DECIDER.fold(usage_events), budget.LIMITS_DECIDER.fold(limit_events)
    assert usage is not None
    assert limits is not None
    assert (usage.version, usage.used) == (len(usage_events), 15)
    assert limits.version == len(limit_events)
    assert (budget.DECIDER.stream_type, budget.LIMITS_DECIDER.stream_type) == ("budget", "budget_limits")
    assert budget.stream_id(TENANT, PERSONA, DAY) == "budget:acme:helper:2025-03-14"
    assert budget.limits_stream_id(TENANT) == "budget-limits:acme"
