"""On a Redis Cluster each view's keys live on one master (its hash tag), and the busiest views on different ones."""

from __future__ import annotations

from observability import redisconn
from tests.integration.test_api_streams import start_session, wait_for_messages

BUSIEST = ("sessions", "transcript", "tools")  # each has keys once its runner started (`current`, heartbeats)


def masters_of(url: str, prefix: str, view: str) -> set[int]:
    """The ports of the masters holding any key of `view` under `prefix`."""
    with redisconn.connect_sync(url) as cluster:
        return {
            node.port
            for node in cluster.get_primaries()
            if cluster.keys(f"{prefix}{{view/{view}}}:*", target_nodes=node)
        }


def test_each_views_keys_are_on_one_master_and_the_busiest_views_on_three(api, client, servers):
    _, headers = api.tenant()
    session = start_session(client, headers)
    wait_for_messages(client, headers, session, 1)

    held = {view: masters_of(servers.redis_url, api.settings.redis_prefix, view) for view in BUSIEST}

    assert all(len(masters) == 1 for masters in held.values()), held
    assert len(set().union(*held.values())) == 3, held
