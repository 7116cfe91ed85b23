"""Commands of token budgets: set a daily limit, consume tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID


@dataclass(frozen=True, kw_only=True)
class SetBudgetLimit:
    """Set a tenant's daily token limit: for one persona, or (persona_id None) the tenant default."""

    tenant_id: str
    persona_id: str | None
    daily_tokens: int


@dataclass(frozen=True, kw_only=True)
class ConsumeTokens:
    """Charge `tokens` to a persona's budget for the UTC `day` (passed in, never read from a clock)."""

    tenant_id: str
    persona_id: str
    day: date
    tokens: int
    session_id: UUID | None = None
    cost_usd: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class ReserveTokens:
    """Set `tokens` aside for a model call before making it; `reservation_id` names it for the settlement."""

    tenant_id: str
    persona_id: str
    day: date
    reservation_id: UUID
    tokens: int
    session_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class SettleReservation:
    """Replace a reservation by the tokens the call really used (`actual_tokens`, 0 when it never ran)."""

    tenant_id: str
    persona_id: str
    day: date
    reservation_id: UUID
    actual_tokens: int
    session_id: UUID | None = None
