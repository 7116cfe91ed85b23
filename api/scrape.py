"""What the API's /health and /metrics measure: each view's and worker's freshness and the relay's lag (measured
at most once a second, however often asked), each dependency's reachability, and the supervised processes'
restarts (from the supervisor's state file)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from prometheus_client import Gauge

from api.deps import Services
from contracts.routing import Routing
from eventstore import metrics as relay_metrics
from eventstore.consumers import workers_behind
from eventstore.queries import Behind, relay_behind
from observability.freshness import unmeasured
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
MEASURED_FOR = 1.0  # seconds one measurement of progress answers /health and /metrics


@dataclass(frozen=True)
class Progress:
    """How far the relay and each view trail the event store and each worker its topics; `workers` is None when
    Kafka did not answer, `workers_error` says why."""

    relay: Behind
    views: list[ViewStatus]
    workers: dict[str, Behind] | None
    workers_error: str | None = None


class Measured:
    """The progress of the API's readers, measured (a Kafka round trip per partition: tenths of a second, seconds
    under load) at most once per MEASURED_FOR seconds after the last one ended: frequent and concurrent callers (a
    load balancer probing /health, Prometheus scraping /metrics, several browser tabs) share one measurement, which a
    failure ends."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._taken: asyncio.Task[Progress] | None = None
        self._at = 0.0

    async def progress(self) -> Progress:
        taken = self._taken
        if taken is None or (taken.done() and (self._failed(taken) or time.monotonic() - self._at > MEASURED_FOR)):
            self._taken = taken = asyncio.ensure_future(self._measure())
        return await asyncio.shield(taken)  # a caller that gives up does not cancel the others' measurement

    async def close(self) -> None:
        """Stop a measurement on its way (the pools it reads are closing)."""
        if self._taken is not None:
            self._taken.cancel()
            await asyncio.gather(self._taken, return_exceptions=True)

    @staticmethod
    def _failed(taken: asyncio.Task[Progress]) -> bool:
        return taken.cancelled() or taken.exception() is not None

    async def _measure(self) -> Progress:
        try:
            return await self._take()
        finally:
            self._at = time.monotonic()  # a slow measurement (seconds under load) still answers for MEASURED_FOR after

    async def _take(self) -> Progress:
        relay = await relay_behind(self.svc.store.pool)
        views = await view_statuses(self.svc)
        try:
            workers = await workers_behind_of(self.svc)
        except KafkaException as e:  # alive or not, a worker whose progress cannot be measured is not known to progress
            return Progress(relay, views, None, unmeasured(e))
        return Progress(relay, views, workers)


async def measure(
    svc: Services, measured: Measured, probe: Callable[[Check], Awaitable[bool]], checks: dict[str, Check]
) -> None:
    """Set every gauge the API exports from the latest measurement and the dependencies probed now."""
    progress = await measured.progress()
    for s in progress.views:
        projection_metrics.LAG_EVENTS.labels(s.view).set(s.lag_events)
        projection_metrics.LAG_SECONDS.labels(s.view).set(s.lag_seconds)
        projection_metrics.POSITION.labels(s.view).set(s.position)
        projection_metrics.VERSION.labels(s.view).set(s.version)
    relay_metrics.show_lag(progress.relay)
    WORKER_LAG_EVENTS.clear()  # not measured: no value rather than the last one
    WORKER_LAG_SECONDS.clear()
    for name, behind in (progress.workers or {}).items():
        WORKER_LAG_EVENTS.labels(name).set(behind.events)
        WORKER_LAG_SECONDS.labels(name).set(behind.seconds)
    ups = await asyncio.gather(*(probe(check) for check in checks.values()))
    for name, up in zip(checks, ups, strict=True):
        DEPENDENCY_UP.labels(name).set(1 if up else 0)
    _measure_processes(svc)


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
