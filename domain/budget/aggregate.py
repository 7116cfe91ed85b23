"""Token budgets: a limits stream per tenant and a usage stream per tenant, persona and UTC day.

No overspend: `consume` (and `reserve`, domain/budget/reservation.py) decides against the usage
state at the version it was loaded at, and the event store appends only after that version
(optimistic concurrency), so of two concurrent charges one is re-decided against the other's
result. The limits are read beside the usage stream, not under its version: a limit change races
with at most the charges in flight.

A refusal exhausts the day: once a charge or reservation was refused (BudgetExceeded), new work
is refused too (`require_tokens_left`) until the day ends or the limit is raised above the one
that refused, so the user who saw "budget exhausted" is not let in again by a smaller request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from domain.budget.commands import ConsumeTokens, ReserveTokens, SetBudgetLimit, SettleReservation
from domain.budget.errors import BudgetExhausted
from domain.budget.events import BudgetExceeded, BudgetLimitSet, ReservationSettled, TokensConsumed, TokensReserved
from domain.decider import Decider
from domain.errors import InvalidCommand, NotFound, UnexpectedEvent
from domain.events import DomainEvent
from domain.validation import require_at_least, require_text

LIMITS_STREAM_TYPE = "budget_limits"
STREAM_TYPE = "budget"
DEFAULT_DAILY_TOKENS = 100_000
DEFAULT_PERSONA = "default"  # the persona a session without one charges

Charge = ConsumeTokens | ReserveTokens | SettleReservation  # what addresses a usage stream


@dataclass(frozen=True, kw_only=True)
class BudgetLimits:
    """A tenant's daily token limits: its default (None: DEFAULT_DAILY_TOKENS) and per-persona overrides."""

    tenant_id: str
    default_daily_tokens: int | None = None
    persona_daily_tokens: Mapping[str, int] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True, kw_only=True)
class BudgetUsage:
    """Tokens a persona used on one UTC day, open reservations included (`reservations`: id -> tokens),
    and the limit of the last refusal (`refused_limit`, None while nothing was refused)."""

    tenant_id: str
    persona_id: str
    day: date
    used: int = 0
    reservations: Mapping[str, int] = field(default_factory=dict)
    refused_limit: int | None = None
    version: int = 0


def limits_stream_id(tenant_id: str) -> str:
    """The id of a tenant's limits stream."""
    return f"budget-limits:{tenant_id}"


def stream_id(tenant_id: str, persona_id: str, day: date) -> str:
    """The id of a persona's usage stream for one UTC day."""
    return f"budget:{tenant_id}:{persona_id}:{day.isoformat()}"


def evolve_limits(state: BudgetLimits | None, event: DomainEvent) -> BudgetLimits:
    """The limits after one more event."""
    if not isinstance(event, BudgetLimitSet):
        raise UnexpectedEvent(LIMITS_STREAM_TYPE, event.type_name(), state.version if state else 0)
    limits = state or BudgetLimits(tenant_id=event.tenant_id)
    if event.persona_id is None:
        return replace(limits, default_daily_tokens=event.daily_tokens, version=limits.version + 1)
    overrides = {**limits.persona_daily_tokens, event.persona_id: event.daily_tokens}
    return replace(limits, persona_daily_tokens=overrides, version=limits.version + 1)


def evolve(state: BudgetUsage | None, event: DomainEvent) -> BudgetUsage:
    """The usage after one more event: a charge, reservation or settlement sets `used` to its `used_after`."""
    match event:
        case TokensConsumed() | BudgetExceeded() | TokensReserved() | ReservationSettled():
            usage = state or BudgetUsage(tenant_id=event.tenant_id, persona_id=event.persona_id, day=event.day)
            return replace(_apply(usage, event), version=usage.version + 1)
    raise UnexpectedEvent(STREAM_TYPE, event.type_name(), state.version if state else 0)


def _apply(usage: BudgetUsage, event: DomainEvent) -> BudgetUsage:
    match event:
        case BudgetExceeded():
            return replace(usage, refused_limit=event.limit)
        case TokensReserved():
            reservations = {**usage.reservations, str(event.reservation_id): event.tokens}
            return replace(usage, used=event.used_after, reservations=reservations)
        case ReservationSettled():
            reservations = {k: v for k, v in usage.reservations.items() if k != str(event.reservation_id)}
            return replace(usage, used=event.used_after, reservations=reservations)
        case TokensConsumed():
            return replace(usage, used=event.used_after)
    return usage


LIMITS_DECIDER = Decider(stream_type=LIMITS_STREAM_TYPE, evolve=evolve_limits, state_type=BudgetLimits)
DECIDER = Decider(stream_type=STREAM_TYPE, evolve=evolve, state_type=BudgetUsage)


def set_limit(state: BudgetLimits | None, command: SetBudgetLimit) -> list[DomainEvent]:
    """Set the tenant default (persona_id None) or a persona's override; daily_tokens >= 0 (0 blocks all)."""
    if state is not None and state.tenant_id != command.tenant_id:
        raise NotFound(LIMITS_STREAM_TYPE, limits_stream_id(command.tenant_id))
    if command.persona_id is not None:
        require_text("persona_id", command.persona_id)
    return [
        BudgetLimitSet(
            tenant_id=command.tenant_id,
            persona_id=command.persona_id,
            daily_tokens=require_at_least("daily_tokens", command.daily_tokens, 0),
        )
    ]


def resolve_limit(limits: BudgetLimits | None, persona_id: str) -> int:
    """A persona's daily limit: its override, else the tenant default, else DEFAULT_DAILY_TOKENS."""
    if limits is None:
        return DEFAULT_DAILY_TOKENS
    if persona_id in limits.persona_daily_tokens:
        return limits.persona_daily_tokens[persona_id]
    return DEFAULT_DAILY_TOKENS if limits.default_daily_tokens is None else limits.default_daily_tokens


def consume(usage: BudgetUsage | None, limits: BudgetLimits | None, command: ConsumeTokens) -> list[DomainEvent]:
    """Charge tokens when used + tokens stays within the limit; else raise BudgetExhausted.

    The refusal charges nothing; its `event` (BudgetExceeded) is what the application may record.
    Raises NotFound when usage or limits belong to another tenant, persona or day (a wrong stream).
    """
    same_owner(usage, limits, command)
    tokens = require_at_least("tokens", command.tokens, 1)
    cost = command.cost_usd
    if cost is not None and (not cost.is_finite() or cost < 0):
        raise InvalidCommand("cost_usd", f"must be a finite amount, not negative, got {cost}")
    used = usage.used if usage else 0
    limit = resolve_limit(limits, command.persona_id)
    if used + tokens > limit:
        remaining = max(limit - used, 0)
        raise BudgetExhausted(command.tenant_id, command.persona_id, command.day, tokens, remaining, limit)
    return [
        TokensConsumed(
            tenant_id=command.tenant_id,
            persona_id=command.persona_id,
            day=command.day,
            tokens=tokens,
            used_after=used + tokens,
            limit=limit,
            session_id=command.session_id,
            cost_usd=command.cost_usd,
        )
    ]


def require_tokens_left(usage: BudgetUsage | None, limits: BudgetLimits | None, persona_id: str, day: date) -> None:
    """Raise BudgetExhausted when the persona has used its whole limit for `day`, or a charge was refused
    that day under a limit at least as high as today's (new work would be refused)."""
    limit = resolve_limit(limits, persona_id)
    used = usage.used if usage else 0
    refused = usage is not None and usage.refused_limit is not None and limit <= usage.refused_limit
    if used >= limit or refused:
        tenant = usage.tenant_id if usage else limits.tenant_id if limits else ""
        raise BudgetExhausted(tenant, persona_id, day, 1, 0, limit)


def same_owner(usage: BudgetUsage | None, limits: BudgetLimits | None, command: Charge) -> None:
    """NotFound unless usage and limits are the command's tenant, persona and day (a wrong stream otherwise)."""
    require_text("persona_id", command.persona_id)
    wanted = stream_id(command.tenant_id, command.persona_id, command.day)
    if usage is not None and stream_id(usage.tenant_id, usage.persona_id, usage.day) != wanted:
        raise NotFound(STREAM_TYPE, wanted)
    if limits is not None and limits.tenant_id != command.tenant_id:
        raise NotFound(LIMITS_STREAM_TYPE, limits_stream_id(command.tenant_id))
