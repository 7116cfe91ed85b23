"""The session's servers with a Redis Cluster of three masters (started here) as their Redis, and the read-side
fixtures of tests/integration, so that tier's tests run here unchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from contracts.codec import EventCodec
from stack import Endpoints
from tests.integration.conftest import client, own_store, reads, tenant, topics, worker
from tests.support.api import RunningApi, running_api
from tests.support.redis_cluster import redis_cluster

__all__ = ["client", "own_store", "reads", "tenant", "topics", "worker"]  # fixtures: found by pytest by name


@pytest.fixture(scope="session")
def servers(servers: Endpoints) -> Iterator[Endpoints]:
    """The session's Postgres, Kafka and registry; a Redis Cluster of this session's own instead of its Redis."""
    with redis_cluster() as cluster:
        yield dataclasses.replace(servers, redis_url=cluster.url)


@pytest.fixture(scope="session")
def api(servers: Endpoints, codec: EventCodec) -> Iterator[RunningApi]:
    """The running API, relay and projections on the cluster (its own: the root one may run on the one Redis)."""
    with running_api(servers, codec) as running:
        yield running
