"""Operations: `/health` (each dependency with its status) and `/metrics` (Prometheus)."""

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
from projections.status import statuses
from projections.views import VIEWS

router = APIRouter(tags=["operations"])
RELAY_LAG_EVENTS = Gauge("agentlog_relay_lag_events", "Events in the store the relay has not published yet")
RELAY_LAG_SECONDS = Gauge("agentlog_relay_lag_seconds", "Age of the oldest event the relay has not published")


class Dependency(BaseModel):
    status: str = Field(examples=["ok"], description="ok or down")
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    status: str = Field(examples=["ok"], description="ok when every dependency is, else degraded")
    dependencies: dict[str, Dependency]


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
    summary="Each dependency with its status",
    responses={503: {"model": Health, "description": "a dependency is down"}},
)
async def health(svc: ServicesDep) -> JSONResponse:
    checks = _checks(svc)
    results = await asyncio.gather(*(_probe(check) for check in checks.values()))
    deps = dict(zip(checks, results, strict=True))
    ok = all(d.status == "ok" for d in deps.values())
    body = Health(status="ok" if ok else "degraded", dependencies=deps)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: request rate and latency per route, relay and projection lags",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "the text exposition format"}},
)
async def metrics(svc: ServicesDep) -> Response:
    settings = svc.settings
    routing = Routing(settings.topic_prefix)
    views = list(VIEWS.values())
    found = await asyncio.to_thread(
        statuses, settings.redis_url, settings.kafka_bootstrap_servers, routing, settings.redis_prefix, views
    )
    for s in found:
        projection_metrics.LAG_EVENTS.labels(s.view).set(s.lag_events)
        projection_metrics.LAG_SECONDS.labels(s.view).set(s.lag_seconds)
        projection_metrics.POSITION.labels(s.view).set(s.position)
        projection_metrics.VERSION.labels(s.view).set(s.version)
    relay = await relay_behind(svc.store.pool)
    RELAY_LAG_EVENTS.set(relay.events)
    RELAY_LAG_SECONDS.set(relay.seconds)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
