"""Errors of token budgets."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.budget.events import BudgetExceeded
from domain.errors import DomainError, StateConflict


class BudgetExhausted(DomainError):
    """Charging `requested` tokens would pass `limit`; only `remaining` are left; nothing was charged.

    `event` is the BudgetExceeded fact describing the refusal: the application may record it on
    the usage stream (it changes no balance) so refusals are visible to projections and analysts.
    """

    def __init__(self, tenant_id: str, persona_id: str, day: date, requested: int, remaining: int, limit: int) -> None:
        super().__init__(
            f"budget of {tenant_id}/{persona_id} on {day.isoformat()} exhausted: "
            f"requested {requested}, remaining {remaining} of {limit}"
        )
        self.tenant_id = tenant_id
        self.persona_id = persona_id
        self.day = day
        self.requested = requested
        self.remaining = remaining
        self.limit = limit
        self.event = BudgetExceeded(
            tenant_id=tenant_id, persona_id=persona_id, day=day, requested=requested, remaining=remaining, limit=limit
        )


class ReservationNotOpen(StateConflict):
    """The reservation does not exist on this usage stream, or it was settled already."""

    def __init__(self, stream_id: str, reservation_id: UUID) -> None:
        super().__init__(stream_id, f"reservation {reservation_id} is not open")
        self.reservation_id = reservation_id
