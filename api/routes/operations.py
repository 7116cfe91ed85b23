"""Operations: `/health` (each dependency; the relay's and each view's freshness against the store, each worker's
against its topics) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated, Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api import scrape
from api.deps import Services, ServicesDep
from contracts.routing import WORKER_TOPICS
from eventstore.queries import Behind

router = APIRouter(tags=["operations"])


def _measured(request: Request) -> scrape.Measured:
    return request.app.state.measured  # type: ignore[no-any-return]


MeasuredDep = Annotated[scrape.Measured, Depends(_measured)]


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
async def health(svc: ServicesDep, measured: MeasuredDep) -> JSONResponse:
    checks = _checks(svc)
    results = await asyncio.gather(*(_probe(check) for check in checks.values()))
    deps = dict(zip(checks, results, strict=True))
    if any(d.status != "ok" for d in deps.values()):
        return JSONResponse(Health(status="down", dependencies=deps).model_dump(), status_code=503)
    fresh = _freshness(await measured.progress())
    degraded = any(f.status != "ok" for f in fresh.values())
    body = Health(status="degraded" if degraded else "ok", dependencies=deps, freshness=fresh)
    return JSONResponse(body.model_dump(), status_code=200)


def _freshness(progress: scrape.Progress) -> dict[str, Freshness]:
    """The relay's and each view's distance to the store head, each worker's to the end of its topics."""
    found = {"relay": _fresh(progress.relay)}
    for s in progress.views:
        found[f"view:{s.view}"] = Freshness(status=s.health, events_behind=s.lag_events, seconds_behind=s.lag_seconds)
    if progress.workers is None:
        unknown = Freshness(status="degraded", events_behind=None, seconds_behind=None, error=progress.workers_error)
        return found | {f"worker:{name}": unknown for name in WORKER_TOPICS}
    return found | {f"worker:{name}": _fresh(behind) for name, behind in progress.workers.items()}


def _fresh(behind: Behind) -> Freshness:
    return Freshness(status=behind.status, events_behind=behind.events, seconds_behind=behind.seconds)


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics: requests per route, relay, view and worker lags, dependencies, supervised processes",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "the text exposition format"}},
)
async def metrics(svc: ServicesDep, measured: MeasuredDep) -> Response:
    await scrape.measure(svc, measured, _up, _checks(svc))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _up(check: Callable[[], Awaitable[Any]]) -> bool:
    return (await _probe(check)).status == "ok"
