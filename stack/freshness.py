"""How far the relay and the views trail the event store, for `stack status` (the same measures as /health)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

from contracts.routing import Routing
from eventstore.errors import POSTGRES_OUTAGES
from eventstore.queries import relay_behind
from projections import queries as read_models
from projections.queries import REDIS_OUTAGES
from projections.status import statuses
from projections.views import VIEWS
from stack.config import Endpoints, StackSettings

OUTAGES = (*POSTGRES_OUTAGES, *REDIS_OUTAGES)
REDIS_PREFIX = "agentlog:"  # the stack's processes run with the default Redis prefix


def relay(endpoints: Endpoints) -> tuple[str, str]:
    """(healthy | degraded, "N events, S s behind the store") of the stack's relay."""
    return _measured(lambda: _relay(endpoints))


async def _relay(endpoints: Endpoints) -> tuple[str, str]:
    conn = await asyncpg.connect(endpoints.postgres_dsn, timeout=5)
    try:
        behind = await relay_behind(conn)
    finally:
        await conn.close()
    health = "healthy" if behind.status == "ok" else "degraded"
    return health, f"{behind.events} events, {behind.seconds:.1f} s behind the store"


def views(settings: StackSettings) -> tuple[str, str]:
    """(healthy | degraded, the views that trail the store) of the stack's projections."""
    return _measured(lambda: _views(settings))


def _measured(measure: Callable[[], Coroutine[Any, Any, tuple[str, str]]]) -> tuple[str, str]:
    """A process whose progress cannot be measured (Postgres or Redis down) cannot progress either."""
    try:
        return asyncio.run(measure())
    except OUTAGES as e:
        return "degraded", f"cannot measure its progress: {type(e).__name__}"


async def _views(settings: StackSettings) -> tuple[str, str]:
    endpoints = settings.endpoints()
    client = read_models.connect(endpoints.redis_url)
    conn = await asyncpg.connect(endpoints.postgres_dsn, timeout=5)
    try:
        found = await statuses(
            client,
            conn,
            endpoints.kafka_bootstrap_servers,
            Routing(settings.topic_prefix),
            REDIS_PREFIX,
            list(VIEWS.values()),
        )
    finally:
        await conn.close()
        await client.aclose()
    lagging = [f"{s.view} {s.lag_events} events, {s.lag_seconds:.1f} s behind" for s in found if s.health != "ok"]
    return ("degraded", "; ".join(lagging)) if lagging else ("healthy", f"{len(found)} views caught up")
