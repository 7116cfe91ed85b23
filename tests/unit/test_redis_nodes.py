"""AGENTLOG_REDIS_NODES and the Redis URL every process reads: one server, or the nodes of a Redis Cluster."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio import RedisCluster

from observability import redisconn
from stack import Stack, StackSettings


def test_one_redis_by_default_and_its_url_as_before():
    settings = StackSettings()
    assert settings.endpoints().redis_url == "redis://127.0.0.1:16379/0"
    assert [s.name for s in Stack(settings).backing if s.name.startswith("redis")] == ["redis"]


def test_three_nodes_listen_on_consecutive_ports_with_their_buses_above_and_are_named_in_one_url():
    settings = StackSettings(redis_port=20000, redis_nodes=3)
    assert [settings.redis_node_ports(n) for n in (1, 2, 3)] == [(20000, 20003), (20001, 20004), (20002, 20005)]
    assert settings.endpoints().redis_url == "redis+cluster://127.0.0.1:20000,127.0.0.1:20001,127.0.0.1:20002"
    nodes = [s for s in Stack(settings).backing if s.name.startswith("redis")]
    assert [(s.name, s.port, s.data_dir.name) for s in nodes] == [
        ("redis", 20000, "redis-cluster-1"),
        ("redis-2", 20001, "redis-cluster-2"),
        ("redis-3", 20002, "redis-cluster-3"),
    ]


@pytest.mark.parametrize("update", [{"redis_nodes": 2}, {"redis_nodes": 3, "redis_port": 19090}])
def test_two_nodes_or_a_node_on_another_settings_port_are_refused(update):
    with pytest.raises(ValidationError):
        StackSettings(**update)


async def test_a_cluster_url_gives_a_cluster_client_on_every_node_named_with_its_credentials():
    client = redisconn.connect("redis+cluster://me:s%40cret@10.0.0.1:7000,10.0.0.2:7001/0", decode_responses=True)
    assert isinstance(client, RedisCluster)
    assert [(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()] == [
        ("10.0.0.1", 7000),
        ("10.0.0.2", 7001),
    ]
    assert client.get_connection_kwargs()["password"] == "s@cret"
    assert not isinstance(redisconn.connect("redis://127.0.0.1:16379/0"), RedisCluster)
    await client.aclose()
