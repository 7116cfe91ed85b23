"""Every process's one way to Redis from its URL: one server (`redis://`) or a Redis Cluster (`redis+cluster://`).

A cluster URL names one or more of its nodes, comma-separated (`redis+cluster://127.0.0.1:16379,127.0.0.1:16380`):
the client asks the first that answers for the slot map and then talks to each key's master itself. It lives in
this leaf package because every process that touches Redis (the span store's too) must read the URL alike.

The cluster clients are typed as the single-server ones: they answer the same commands agentlog sends (keys of one
atomic step share a hash tag, see projections.views.base), so callers need not know which they hold. The one thing
that differs is a connection of one's own (the projections' pipelined script calls): `own_connection`.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.connection import AbstractConnection
from redis.cluster import ClusterNode

CLUSTER_SCHEME = "redis+cluster://"


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def _cluster_options(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The startup nodes and the credentials a cluster URL names (a path, the database, is ignored: a cluster has
    only database 0)."""
    netloc = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0]
    credentials, _, hosts = netloc.rpartition("@")
    options: dict[str, Any] = {}
    if credentials:
        user, _, password = credentials.partition(":")
        options = {"username": unquote(user) or None, "password": unquote(password) or None}
    nodes = [(host, int(port)) for host, _, port in (node.rpartition(":") for node in hosts.split(","))]
    return nodes, options


def connect(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client for `url`; `options` are redis-py's (decode_responses, retry, timeouts)."""
    if not is_cluster(url):
        return aioredis.Redis.from_url(url, **options)
    nodes, credentials = _cluster_options(url)
    startup = [AsyncClusterNode(host, port) for host, port in nodes]
    return cast("aioredis.Redis", aioredis.RedisCluster(startup_nodes=startup, **credentials, **options))


def connect_sync(url: str, **options: Any) -> redis.Redis:
    """A blocking client for `url`, as `connect`."""
    if not is_cluster(url):
        return redis.Redis.from_url(url, **options)
    nodes, credentials = _cluster_options(url)
    startup = [ClusterNode(host, port) for host, port in nodes]  # type: ignore[no-untyped-call]
    return cast("redis.Redis", redis.RedisCluster(startup_nodes=startup, **credentials, **options))


async def own_connection(client: aioredis.Redis, key: str) -> AbstractConnection:
    """A connection taken from `client`'s pool for good, to the server holding `key` (its master on a cluster),
    for a caller that writes commands and reads their replies itself; it is closed with the client."""
    if isinstance(client, aioredis.RedisCluster):
        await client.initialize()  # the slot map, once
        node = client.get_node_from_key(key)
        assert node is not None  # get_node_from_key raises for a slot no master serves
        return node.acquire_connection()
    connection: AbstractConnection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    return connection
