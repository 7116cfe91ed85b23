"""How far the relay and the views trail the event store, and the workers their topics, for `stack status` (the same
measures as /health)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from confluent_kafka import KafkaException

from contracts.routing import Routing
from eventstore.consumers import workers_behind
from eventstore.errors import POSTGRES_OUTAGES
from eventstore.queries import Behind, relay_behind
from observability.freshness import unmeasured
from projections import queries as read_models
from projections.queries import REDIS_OUTAGES
from projections.status import statuses
from projections.views import VIEWS
from stack.config import Endpoints, StackSettings

OUTAGES: tuple[type[Exception], ...] = (*POSTGRES_OUTAGES, *REDIS_OUTAGES, KafkaException)
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
    return _health(behind), f"{behind.events} events, {behind.seconds:.1f} s behind the store"


def worker(settings: StackSettings, name: str) -> tuple[str, str]:
    """(healthy | degraded, "N events, S s behind its topics") of the worker `name` (its consumer group)."""
    return _measured(lambda: _worker(settings, name))


async def _worker(settings: StackSettings, name: str) -> tuple[str, str]:
    routing = Routing(settings.topic_prefix)
    found = await asyncio.to_thread(workers_behind, settings.endpoints().kafka_bootstrap_servers, routing, [name])
    behind = found[name]
    return _health(behind), f"{behind.events} events, {behind.seconds:.1f} s behind its topics"


def _health(behind: Behind) -> str:
    return "healthy" if behind.status == "ok" else "degraded"


def views(settings: StackSettings) -> tuple[str, str]:
    """(healthy | degraded, the views that trail the store) of the stack's projections."""
    return _measured(lambda: _views(settings))


def _measured(measure: Callable[[], Coroutine[Any, Any, tuple[str, str]]]) -> tuple[str, str]:
    """A process whose progress cannot be measured (Postgres, Redis or Kafka down) cannot progress either."""
    try:
        return asyncio.run(measure())
    except OUTAGES as e:
        return "degraded", unmeasured(e)


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
