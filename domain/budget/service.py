"""Budget commands as services: set a limit; charge, reserve and settle tokens without ever overspending."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from domain.budget.aggregate import (
    DECIDER,
    LIMITS_DECIDER,
    BudgetLimits,
    BudgetUsage,
    consume,
    limits_stream_id,
    require_tokens_left,
    set_limit,
    stream_id,
)
from domain.budget.commands import ConsumeTokens, ReserveTokens, SettleReservation
from domain.budget.errors import BudgetExhausted
from domain.budget.reservation import reserve, settle
from domain.events import AppendResult, CommandContext
from domain.service import Decide, EventStore, command, execute

set_budget_limit = command(LIMITS_DECIDER, lambda c: limits_stream_id(c.tenant_id), set_limit)


async def consume_tokens(store: EventStore, context: CommandContext, cmd: ConsumeTokens) -> AppendResult:
    """Charge tokens to the tenant's persona for the day, or raise BudgetExhausted charging nothing.

    The charge is decided against the usage stream's loaded version and appended with it as the
    expected version, so concurrent charges can never exceed the limit together: a loser
    reloads and decides again. A refusal is recorded as BudgetExceeded on the usage stream
    (without the idempotency key, so a retry is decided afresh) before the error is raised.
    """
    loaded = await _limits(store, cmd.tenant_id, context.tenant_id)
    limits = loaded[0]
    usage_stream = stream_id(cmd.tenant_id, cmd.persona_id, cmd.day)
    try:
        return await _on_usage(store, usage_stream, context, lambda usage: consume(usage, limits, cmd))
    except BudgetExhausted as refused:
        exceeded = refused.event
        plain = replace(context, idempotency_key=None, request_hash=None)
        await _on_usage(store, usage_stream, plain, lambda usage: [exceeded])
        raise


async def _on_usage(
    store: EventStore, usage_stream: str, context: CommandContext, decide: Decide[BudgetUsage]
) -> AppendResult:
    """Run a charge on a usage stream, re-decided after a lost race (up to 30 times: a persona's budget of the day
    is the busiest stream of all), together with the charges this process has waiting for it (domain/service.py)."""
    return await execute(store, DECIDER, usage_stream, context, decide, retries=30, together=True)


async def require_budget(store: EventStore, tenant_id: str, persona_id: str, day: date) -> None:
    """Raise BudgetExhausted when the persona has no tokens left on `day`, decided on the budget's own
    streams in the event store (never on a read model, so a read-side outage cannot wrongly allow or
    refuse)."""
    limits = await _limits(store, tenant_id, tenant_id)
    usage = await store.load(DECIDER, stream_id(tenant_id, persona_id, day), tenant_id, fresh=True)
    require_tokens_left(usage[0], limits[0], persona_id, day)


async def _limits(
    store: EventStore, tenant_id: str, caller: str, *, fresh: bool = True
) -> tuple[BudgetLimits | None, int]:
    """The tenant's limits as stored now: they are set through the API while workers charge, so a
    process never decides on limits (or usage) as it last saw them (`fresh=False`: as this process
    last saw them, for a settlement, which only records them)."""
    return await store.load(LIMITS_DECIDER, limits_stream_id(tenant_id), caller, fresh=fresh)


async def reserve_tokens(store: EventStore, context: CommandContext, cmd: ReserveTokens) -> AppendResult:
    """Set tokens aside before a model call, or raise BudgetExhausted reserving nothing (domain/budget/reservation.py).

    Decided like `consume_tokens`, under the usage stream's version. The refusal (BudgetExceeded) is
    recorded under the context's idempotency key + ":refused" when it has one, so a redelivered
    command that is refused again records its refusal once.
    """
    limits = (await _limits(store, cmd.tenant_id, context.tenant_id))[0]
    usage_stream = stream_id(cmd.tenant_id, cmd.persona_id, cmd.day)
    try:
        return await _on_usage(store, usage_stream, context, lambda usage: reserve(usage, limits, cmd))
    except BudgetExhausted as refused:
        exceeded = refused.event
        key = f"{context.idempotency_key}:refused" if context.idempotency_key else None
        refusal = replace(context, idempotency_key=key)
        await _on_usage(store, usage_stream, refusal, lambda usage: [exceeded])
        raise


async def settle_tokens(store: EventStore, context: CommandContext, cmd: SettleReservation) -> AppendResult:
    """Replace an open reservation by the tokens the call used (at most the reservation); ReservationNotOpen
    when it is unknown or settled already.

    The limit is only recorded beside the settlement (what it charges depends on the reservation alone), so it
    is the one this process last saw, read fresh when it reserved a moment ago: no read of its own."""
    limits = (await _limits(store, cmd.tenant_id, context.tenant_id, fresh=False))[0]
    usage_stream = stream_id(cmd.tenant_id, cmd.persona_id, cmd.day)
    return await _on_usage(store, usage_stream, context, lambda usage: settle(usage, limits, cmd))
