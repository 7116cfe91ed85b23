"""Operations: `/health` (each dependency, and the relay's and each view's freshness against the store)
and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import BaseModel, Field

from api.deps import Services, ServicesDep
from contracts.routing import Routing
from eventstore.queries import relay_behind
from projections import metrics as projection_metrics
from projections.status import ViewStatus, statuses
from projections.views import VIEWS

router = APIRouter(tags=["operations"])
RELAY_LAG_EVENTS = Gauge("agentlog_relay_lag_events", "Events in the store the relay has not published yet")
RELAY_LAG_SECONDS = Gauge("agentlog_relay_lag_seconds", "Age of the oldest event the relay has not published")


class Dependency(BaseModel):
    status: str = Field(examples=["ok"], description="ok or down")
    latency_ms: float | None = None
    error: str | None = None


class Freshness(BaseModel):
    status: str = Field(examples=["ok"], description="ok, degraded (falling behind the store) or stopped")
    events_behind: int = Field(description="stored events it has not taken yet")
    seconds_behind: float = Field(description="age of the oldest of them (0: caught up)")


class Health(BaseModel):
    status: str = Field(
        examples=["ok"],
        description="down (503) when a dependency is; degraded when the relay or a view falls behind the store "
        "or no runner folds a view; else ok",
    )
    dependencies: dict[str, Dependency]
    freshness: dict[str, Freshness] = Field(
        default_factory=dict, description="`relay` and `view:<name>` against the event store's head"
    )


@cache
def _admin(bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers})


async def _probe(check: Callable[[], Awaitable[Any]]) -> Dependency:
    began = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=3.0)
    except Exception as e:  # noqa: BLE001 - any failure of a probe means the dependency is down
        return Dependency(status="down", error=f"{type(e).__name__}: {e}"[:300])
    return Dependency(status="ok", latency_ms=round((time.perf_counter() - began) * 1000, 2))


def _checks(svc: Services) -> dict[str, Callable[[], Awaitable[Any]]]:
    settings = svc.settings
    return {
        "postgres": lambda: svc.store.pool.fetchval("SELECT 1"),
        "redis": svc.reads.client.ping,
        "kafka": lambda: asyncio.to_thread(_admin(settings.kafka_bootstrap_servers).list_topics, timeout=2.5),
        "schema_registry": lambda: asyncio.to_thread(svc.store.codec.registry.get_subjects),
    }


@router.get(
    "/health",
    response_model=Health,
    summary="Each dependency with its status, and how far the relay and each view trail the event store",
    responses={503: {"model": Health, "description": "a dependency is down"}},
)
async def health(svc: ServicesDep) -> JSONResponse:
    checks = _checks(svc)
    results = await asyncio.gather(*(_probe(check) for check in checks.values()))
    deps = dict(zip(checks, results, strict=True))
    if any(d.status != "ok" for d in deps.values()):
        return JSONResponse(Health(status="down", dependencies=deps).model_dump(), status_code=503)
    fresh = await _freshness(svc)
    degraded = any(f.status != "ok" for f in fresh.values())
    body = Health(status="degraded" if degraded else "ok", dependencies=deps, freshness=fresh)
    return JSONResponse(body.model_dump(), status_code=200)


async def _freshness(svc: Services) -> dict[str, Freshness]:
    """The relay's and each view's distance to the store head."""
    relay = await relay_behind(svc.store.pool)
    found = {"relay": Freshness(status=relay.status, events_behind=relay.events, seconds_behind=relay.seconds)}
    for s in await _view_statuses(svc):
        found[f"view:{s.view}"] = Freshness(status=s.health, events_behind=s.lag_events, seconds_behind=s.lag_seconds)
    return found


async def _view_statuses(svc: Services) -> list[ViewStatus]:
    settings = svc.settings
    routing = Routing(settings.topic_prefix)
    views = list(VIEWS.values())
    bootstrap = settings.kafka_bootstrap_servers
    return await statuses(svc.reads.client, svc.store.pool, bootstrap, routing, settings.redis_prefix, views)


@router.get(
    "/metrics",
    summary="Prometheus metrics: request rate and latency per route, relay and projection lags",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "the text exposition format"}},
)
async def metrics(svc: ServicesDep) -> Response:
    for s in await _view_statuses(svc):
        projection_metrics.LAG_EVENTS.labels(s.view).set(s.lag_events)
        projection_metrics.LAG_SECONDS.labels(s.view).set(s.lag_seconds)
        projection_metrics.POSITION.labels(s.view).set(s.position)
        projection_metrics.VERSION.labels(s.view).set(s.version)
    relay = await relay_behind(svc.store.pool)
    RELAY_LAG_EVENTS.set(relay.events)
    RELAY_LAG_SECONDS.set(relay.seconds)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
