"""Reserving tokens before a model call and settling them after: the budget can never be overspent.

A reservation counts as used the moment it is recorded, decided like a charge (against the usage
stream's version, so concurrent reservations never pass the limit together). Its settlement
replaces it by what the call really used, but never charges more than was reserved: usage beyond
the estimate is recorded (`actual`) yet not charged, because the call has happened and the limit
must hold; a responder's estimate is its upper bound, and an analyst sees every overrun.
"""

from __future__ import annotations

from domain.budget.aggregate import BudgetLimits, BudgetUsage, resolve_limit, same_owner, stream_id
from domain.budget.commands import ReserveTokens, SettleReservation
from domain.budget.errors import BudgetExhausted, ReservationNotOpen
from domain.budget.events import ReservationSettled, TokensReserved
from domain.events import DomainEvent
from domain.validation import require_at_least


def reserve(usage: BudgetUsage | None, limits: BudgetLimits | None, command: ReserveTokens) -> list[DomainEvent]:
    """Set tokens aside when used + tokens stays within the limit; else raise BudgetExhausted (nothing
    reserved; its `event` is the refusal to record). A reservation id already open records nothing (the
    same call reserved twice: a worker and its redelivered twin)."""
    same_owner(usage, limits, command)
    tokens = require_at_least("tokens", command.tokens, 1)
    if usage is not None and str(command.reservation_id) in usage.reservations:
        return []
    used = usage.used if usage else 0
    limit = resolve_limit(limits, command.persona_id)
    if used + tokens > limit:
        raise BudgetExhausted(command.tenant_id, command.persona_id, command.day, tokens, max(limit - used, 0), limit)
    return [
        TokensReserved(
            tenant_id=command.tenant_id,
            persona_id=command.persona_id,
            day=command.day,
            reservation_id=command.reservation_id,
            tokens=tokens,
            used_after=used + tokens,
            limit=limit,
            session_id=command.session_id,
        )
    ]


def settle(usage: BudgetUsage | None, limits: BudgetLimits | None, command: SettleReservation) -> list[DomainEvent]:
    """Replace an open reservation by min(actual, reserved) tokens; ReservationNotOpen when it is unknown
    or settled already."""
    same_owner(usage, limits, command)
    actual = require_at_least("actual_tokens", command.actual_tokens, 0)
    key = str(command.reservation_id)
    if usage is None or key not in usage.reservations:
        raise ReservationNotOpen(stream_id(command.tenant_id, command.persona_id, command.day), command.reservation_id)
    reserved = usage.reservations[key]
    charged = min(actual, reserved)
    return [
        ReservationSettled(
            tenant_id=command.tenant_id,
            persona_id=command.persona_id,
            day=command.day,
            reservation_id=command.reservation_id,
            reserved=reserved,
            actual=actual,
            charged=charged,
            used_after=usage.used - reserved + charged,
            limit=resolve_limit(limits, command.persona_id),
            session_id=command.session_id,
        )
    ]
