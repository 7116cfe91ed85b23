"""Prometheus metrics of the projections process (served on /metrics by `agentlog projections run`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS = Counter(
    "agentlog_projection_events",
    "Events a projection processed, by outcome (applied, duplicate, dead_lettered)",
    ["projection", "outcome"],
)
POSITION = Gauge("agentlog_projection_position", "Highest event-store position the projection applied", ["projection"])
LAG_EVENTS = Gauge(
    "agentlog_projection_lag_events", "Events in Kafka not yet applied by the projection", ["projection"]
)
LAG_SECONDS = Gauge(
    "agentlog_projection_lag_seconds",
    "How long the oldest event of the last batch waited before it was applied (0 when nothing waits)",
    ["projection"],
)
VERSION = Gauge(
    "agentlog_projection_key_version", "Key version the projection writes (readers use the same)", ["projection"]
)
PARTITIONS = Gauge(
    "agentlog_projection_partitions",
    "Partitions of the projection's topics this process reads (its share of the view's consumer group)",
    ["projection"],
)
