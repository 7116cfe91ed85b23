"""A master of the launcher's Redis Cluster stopped and started again on its data: the cluster says so, then serves
every view's keys again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from observability import redisconn
from projections.views import VIEWS, Keys
from tests.support.redis_cluster import redis_cluster

pytestmark = pytest.mark.serial  # a master stopped and started: alone, at the end of the suite


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.1)


def test_a_restarted_master_rejoins_with_its_views_keys(unique):
    probes = [Keys(f"test:{unique}:", view).shared("probe") for view in VIEWS]
    with redis_cluster() as cluster:
        first, second, _ = cluster.nodes
        with redisconn.connect_sync(cluster.url, decode_responses=True) as client:
            for key in probes:
                client.set(key, key)

        second.stop()
        eventually(lambda: first.assess() == ("unhealthy", "cluster_state fail"))
        second.launch()
        second.wait_ready()  # the launcher's restart: until every node says cluster_state:ok again

        assert [node.assess() for node in cluster.nodes] == [("healthy", "")] * 3
        with redisconn.connect_sync(cluster.url, decode_responses=True) as client:
            assert [client.get(key) for key in probes] == probes
