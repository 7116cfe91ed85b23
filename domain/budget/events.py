"""Events of token budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class BudgetEvent(DomainEvent):
    aggregate = "budget"
    tenant_id: str


@dataclass(frozen=True, kw_only=True)
class BudgetLimitSet(BudgetEvent):
    persona_id: str | None
    daily_tokens: int


@dataclass(frozen=True, kw_only=True)
class TokensConsumed(BudgetEvent):
    persona_id: str
    day: date
    tokens: int
    used_after: int
    limit: int
    session_id: UUID | None = None
    cost_usd: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class BudgetExceeded(BudgetEvent):
    persona_id: str
    day: date
    requested: int
    remaining: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class TokensReserved(BudgetEvent):
    """Tokens set aside before a model call (counted as used until the call is settled)."""

    persona_id: str
    day: date
    reservation_id: UUID
    tokens: int
    used_after: int
    limit: int
    session_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ReservationSettled(BudgetEvent):
    """A reservation replaced by what the call used: `charged` (at most `reserved`) stays used, the rest is
    released; `actual` is the call's real usage, beyond the reservation when the estimate was too low."""

    persona_id: str
    day: date
    reservation_id: UUID
    reserved: int
    actual: int
    charged: int
    used_after: int
    limit: int
    session_id: UUID | None = None


EVENTS = (BudgetLimitSet, TokensConsumed, BudgetExceeded, TokensReserved, ReservationSettled)
