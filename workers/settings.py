"""Settings of the worker processes; every value has an environment name."""

from __future__ import annotations

from pydantic import Field

from projections.settings import ReadSideSettings


class WorkerSettings(ReadSideSettings):
    """The servers (see ReadSideSettings), plus AGENTLOG_WORKER_* settings shared by every worker."""

    worker_batch: int = Field(default=100, ge=1, le=10_000, description="events read from Kafka at a time")
    worker_concurrency: int = Field(default=16, ge=1, le=1024, description="streams handled at once")
    worker_attempts: int = Field(default=5, ge=1, le=100, description="tries of an event whose handling fails")
    worker_pool_size: int = Field(default=8, ge=1, le=256, description="Postgres connections")
    worker_metrics_port: int = Field(default=0, ge=0, le=65535, description="/metrics port, 0: none")
