"""What the API's /metrics measures when scraped: each view's and worker's freshness, the relay's lag, each
dependency's reachability, and the supervised processes' restarts (from the supervisor's state file)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka import KafkaException
from prometheus_client import Gauge

from api.deps import Services
from contracts.routing import Routing
from eventstore import metrics as relay_metrics
from eventstore.consumers import workers_behind
from eventstore.queries import Behind
from observability.processes import read_state
from projections import metrics as projection_metrics
from projections.status import ViewStatus, statuses
from projections.views import VIEWS

WORKER_LAG_EVENTS = Gauge("agentlog_worker_lag_events", "Records on a worker's topics it has not committed", ["worker"])
WORKER_LAG_SECONDS = Gauge("agentlog_worker_lag_seconds", "Age of the oldest record a worker has not committed",
                           ["worker"])  # fmt: skip
DEPENDENCY_UP = Gauge("agentlog_dependency_up", "1 when the API reaches a dependency (as /health probes it), else 0",
                      ["dependency"])  # fmt: skip
PROCESS_UP = Gauge("agentlog_process_up", "1 when a supervised process runs (supervisor's state file), else 0",
                   ["process"])  # fmt: skip
PROCESS_RESTARTS = Gauge("agentlog_process_restarts", "Times the supervisor started a process again", ["process"])
Check = Callable[[], Awaitable[Any]]


async def measure(svc: Services, probe: Callable[[Check], Awaitable[bool]], checks: dict[str, Check]) -> None:
    """Set every gauge the API exports from what it measures now."""
    for s in await view_statuses(svc):
        projection_metrics.LAG_EVENTS.labels(s.view).set(s.lag_events)
        projection_metrics.LAG_SECONDS.labels(s.view).set(s.lag_seconds)
        projection_metrics.POSITION.labels(s.view).set(s.position)
        projection_metrics.VERSION.labels(s.view).set(s.version)
    await relay_metrics.measure_lag(svc.store.pool)
    await _measure_workers(svc)
    ups = await asyncio.gather(*(probe(check) for check in checks.values()))
    for name, up in zip(checks, ups, strict=True):
        DEPENDENCY_UP.labels(name).set(1 if up else 0)
    _measure_processes(svc)


async def _measure_workers(svc: Services) -> None:
    try:
        workers = await workers_behind_of(svc)
    except KafkaException:  # not measured: no value rather than the last one
        workers = {}
        WORKER_LAG_EVENTS.clear()
        WORKER_LAG_SECONDS.clear()
    for name, behind in workers.items():
        WORKER_LAG_EVENTS.labels(name).set(behind.events)
        WORKER_LAG_SECONDS.labels(name).set(behind.seconds)


def _measure_processes(svc: Services) -> None:
    where = svc.settings.api_supervisor_state
    state = read_state(where) if where else None
    PROCESS_UP.clear()
    PROCESS_RESTARTS.clear()
    for name, record in (state.processes if state else {}).items():
        PROCESS_UP.labels(name).set(1 if record.up() else 0)
        PROCESS_RESTARTS.labels(name).set(record.restarts)


async def workers_behind_of(svc: Services) -> dict[str, Behind]:
    settings = svc.settings
    return await asyncio.to_thread(workers_behind, settings.kafka_bootstrap_servers, Routing(settings.topic_prefix))


async def view_statuses(svc: Services) -> list[ViewStatus]:
    settings = svc.settings
    routing = Routing(settings.topic_prefix)
    views = list(VIEWS.values())
    bootstrap = settings.kafka_bootstrap_servers
    return await statuses(svc.reads.client, svc.store.pool, bootstrap, routing, settings.redis_prefix, views)
