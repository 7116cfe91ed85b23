"""budgets: token usage per tenant, persona and day: used, limit, remaining, and refusals."""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import BUDGET_EVENTS
from domain.budget.events import BudgetExceeded, ReservationSettled, TokensConsumed, TokensReserved
from projections.apply import Op
from projections.views.base import Keys, View, by_type


def _usage(r: Record, k: Keys) -> tuple[str, Op]:
    day = r["day"].isoformat()
    index: Op = ["SADD", k("days", r["tenant_id"]), f"{r['persona_id']}:{day}"]
    return k("usage", r["tenant_id"], r["persona_id"], day), index


def _consumed(r: Record, k: Keys) -> list[Op]:
    usage, index = _usage(r, k)
    remaining = max(r["limit"] - r["used_after"], 0)
    fields = ["used", r["used_after"], "limit", r["limit"], "remaining", remaining]
    return [["IFNEWER", usage, r["meta"]["stream_version"], "", *fields], index]


def _exceeded(r: Record, k: Keys) -> list[Op]:
    # a refusal changes no balance, but says what the limit and the remainder were
    usage, index = _usage(r, k)
    return [
        ["HINCRBY", usage, "refused", 1],
        ["HSETNX", usage, "used", r["limit"] - r["remaining"]],
        ["IFNEWER", usage, r["meta"]["stream_version"], "", "limit", r["limit"], "remaining", r["remaining"]],
        index,
    ]


# reservations count as used until settled: each carries the day's usage after it, as a charge does
CHARGES = {TokensConsumed: _consumed, TokensReserved: _consumed, ReservationSettled: _consumed}
VIEW = View("budgets", (BUDGET_EVENTS,), by_type({**CHARGES, BudgetExceeded: _exceeded}))
