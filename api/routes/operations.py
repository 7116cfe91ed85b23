"""Operations: `/health` (each dependency; the relay's and each view's freshness against the store, each worker's
against its topics) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import BaseModel, Field

from api.deps import Services, ServicesDep
from contracts.routing import WORKER_TOPICS, Routing
from eventstore.consumers import workers_behind
from eventstore.queries import Behind, relay_behind
from projections import metrics as projection_metrics
from projections.status import ViewStatus, statuses
from projections.views import VIEWS

router = APIRouter(tags=["operations"])
RELAY_LAG_EVENTS = Gauge("agentlog_relay_lag_events", "Events in the store the relay has not published yet")
RELAY_LAG_SECONDS = Gauge("agentlog_relay_lag_seconds", "Age of the oldest event the relay has not published")
WORKER_LAG_EVENTS = Gauge("agentlog_worker_lag_events", "Records on a worker's topics it has not committed", ["worker"])
WORKER_LAG_SECONDS = Gauge("agentlog_worker_lag_seconds", "Age of the oldest record a worker has not committed",
                           ["worker"])  # fmt: skip


class Dependency(BaseModel):
    status: str = Field(examples=["ok"], description="ok or down")
    latency_ms: float | None = None
    error: str | None = None


class Freshness(BaseModel):
    status: str = Field(
        examples=["ok"], description="ok, degraded (falling behind, or its progress cannot be measured) or stopped"
    )
    events_behind: int | None = Field(
        description="events it has not taken yet (a worker: records on its topics past its committed offsets); "
        "null when it cannot be measured"
    )
    seconds_behind: float | None = Field(description="age of the oldest of them (0: caught up; null: not measured)")
    error: str | None = Field(default=None, description="why its progress cannot be measured")


class Health(BaseModel):
    status: str = Field(
        examples=["ok"],
        description="down (503) when a dependency is; degraded when the relay or a view falls behind the store, "
        "a worker behind its topics, or no runner folds a view; else ok",
    )
    dependencies: dict[str, Dependency]
    freshness: dict[str, Freshness] = Field(
        default_factory=dict,
        description="`relay` and `view:<name>` against the event store's head, `worker:<name>` against its topics",
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
    operation_id="getHealth",
    response_model=Health,
    summary="Each dependency with its status, how far the relay and each view trail the event store, and each "
    "worker its topics",
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
    """The relay's and each view's distance to the store head, each worker's to the end of its topics."""
    found = {"relay": _fresh(await relay_behind(svc.store.pool))}
    for s in await _view_statuses(svc):
        found[f"view:{s.view}"] = Freshness(status=s.health, events_behind=s.lag_events, seconds_behind=s.lag_seconds)
    try:
        workers = await _workers_behind(svc)
    except KafkaException as e:  # alive or not, a worker whose progress cannot be measured is not known to progress
        error = f"cannot measure its progress: {type(e).__name__}: {e}"[:300]
        unknown = Freshness(status="degraded", events_behind=None, seconds_behind=None, error=error)
        return found | {f"worker:{name}": unknown for name in WORKER_TOPICS}
    return found | {f"worker:{name}": _fresh(behind) for name, behind in workers.items()}


def _fresh(behind: Behind) -> Freshness:
    return Freshness(status=behind.status, events_behind=behind.events, seconds_behind=behind.seconds)


async def _workers_behind(svc: Services) -> dict[str, Behind]:
    settings = svc.settings
    return await asyncio.to_thread(workers_behind, settings.kafka_bootstrap_servers, Routing(settings.topic_prefix))


async def _view_statuses(svc: Services) -> list[ViewStatus]:
    settings = svc.settings
    routing = Routing(settings.topic_prefix)
    views = list(VIEWS.values())
    bootstrap = settings.kafka_bootstrap_servers
    return await statuses(svc.reads.client, svc.store.pool, bootstrap, routing, settings.redis_prefix, views)


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics: request rate and latency per route, relay, projection and worker lags",
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
    try:
        workers = await _workers_behind(svc)
    except KafkaException:  # not measured: no value rather than the last one
        workers = {}
        WORKER_LAG_EVENTS.clear()
        WORKER_LAG_SECONDS.clear()
    for name, behind in workers.items():
        WORKER_LAG_EVENTS.labels(name).set(behind.events)
        WORKER_LAG_SECONDS.labels(name).set(behind.seconds)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
