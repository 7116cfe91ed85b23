"""The budgets view: tokens used per tenant, persona and day, the limit, what remains, and refusals."""

from __future__ import annotations

from datetime import date

from domain.budget.events import BudgetExceeded, TokensConsumed
from projections.views import VIEWS, Keys
from tests.unit.projections.model import Folded, recorded

DAY = date(2026, 3, 4)
STREAM = "budget-acme"


def folded(*events) -> Folded:
    return Folded(VIEWS["budgets"], Keys("p:", "budgets")).fold(events)


def consumed(version: int, tokens: int, used_after: int, limit: int = 100) -> object:
    event = TokensConsumed(
        tenant_id="acme", persona_id="helper", day=DAY, tokens=tokens, used_after=used_after, limit=limit
    )
    return recorded(event, STREAM, version)


def exceeded(version: int, requested: int, remaining: int, limit: int = 100) -> object:
    event = BudgetExceeded(
        tenant_id="acme", persona_id="helper", day=DAY, requested=requested, remaining=remaining, limit=limit
    )
    return recorded(event, STREAM, version)


def test_usage_shows_the_newest_balance_whatever_the_order():
    events = [consumed(1, 30, 30), consumed(2, 50, 80)]

    for order in (events, events[::-1]):
        assert folded(*order)("usage", "acme", "helper", DAY.isoformat()) == {
            "_version": "2",
            "used": "80",
            "limit": "100",
            "remaining": "20",
        }
    assert folded(*events)("days", "acme") == {f"helper:{DAY.isoformat()}"}


def test_usage_past_the_limit_has_nothing_remaining():
    assert folded(consumed(1, 120, 120))("usage", "acme", "helper", DAY.isoformat())["remaining"] == "0"


def test_refusals_are_counted_and_say_what_was_left_without_changing_the_balance():
    view = folded(consumed(1, 90, 90), exceeded(2, 50, 10), exceeded(3, 20, 10))

    assert view("usage", "acme", "helper", DAY.isoformat()) == {
        "_version": "3",
        "used": "90",
        "limit": "100",
        "remaining": "10",
        "refused": "2",
    }
    # a refusal seen before any consumption still tells how much was used
    assert folded(exceeded(2, 50, 10))("usage", "acme", "helper", DAY.isoformat())["used"] == "90"
