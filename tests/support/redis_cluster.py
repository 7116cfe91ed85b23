"""A Redis Cluster of three masters for a test session, started by the launcher on free ports of its own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from stack.config import REPO_ROOT, StackSettings
from stack.ports import free_ports
from stack.redis import Redis

NODES = 3


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its `redis+cluster://` URL and the launcher's nodes (to stop and start one)."""

    url: str
    nodes: list[Redis]


@contextmanager
def redis_cluster() -> Iterator[Cluster]:
    """A fresh cluster (its own home, data and logs), stopped and deleted afterwards."""
    home = REPO_ROOT / ".agentlog" / f"redis-cluster-{uuid.uuid4().hex[:8]}"
    settings = StackSettings(home=home, redis_port=free_ports(2 * NODES), redis_nodes=NODES)
    nodes = [Redis(settings, node) for node in range(1, NODES + 1)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready()
        yield Cluster(settings.endpoints().redis_url, nodes)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(home, ignore_errors=True)
