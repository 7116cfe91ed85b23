"""Prometheus metrics of the relay: events published (counted by the relay as Kafka confirms them) and how far it
trails the store, kept current by the relay's own process (`agentlog relay`); the API's /metrics sets the lag too."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from prometheus_client import Counter, Gauge

from eventstore.errors import StoreUnavailable
from eventstore.queries import Behind, relay_behind

log = logging.getLogger("agentlog.relay")
PUBLISHED = Counter("agentlog_relay_published_events", "Events the relay published to Kafka", ["relay"])
ACTIVE = Gauge(
    "agentlog_relay_active", "1 while this relay process is the active one of its name, 0 standing by", ["relay"]
)
LAG_EVENTS = Gauge("agentlog_relay_lag_events", "Events in the store the relay has not published yet")
LAG_SECONDS = Gauge("agentlog_relay_lag_seconds", "Age of the oldest event the relay has not published")


async def measure_lag(pool: asyncpg.Pool, relay: str = "main") -> None:
    """Set the lag gauges from the store: events after the relay's checkpoint and the age of the oldest."""
    show_lag(await relay_behind(pool, relay))


def show_lag(behind: Behind) -> None:
    """Set the lag gauges to a measurement (the relay's own, or the API's for /metrics)."""
    LAG_EVENTS.set(behind.events)
    LAG_SECONDS.set(behind.seconds)


async def export_lag(pool: asyncpg.Pool, relay: str, stop: asyncio.Event, every: float = 2.0) -> None:
    """Measure the relay's lag every `every` seconds until `stop` (a store that is down leaves the gauges as they
    were: the relay waits it out, and /health says the store is down)."""
    while not stop.is_set():
        try:
            await measure_lag(pool, relay)
        except StoreUnavailable as e:
            log.debug("relay lag not measured: %s", e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
