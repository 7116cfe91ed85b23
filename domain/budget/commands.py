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
