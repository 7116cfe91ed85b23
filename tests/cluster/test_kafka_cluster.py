"""A three-node Kafka cluster under the launcher: SIGKILL the node leading the busiest partitions while writers post
through the API, and bring it back with `agentlog stack restart`. Every stored event is on its topic once, in its
stream's order (read back through the registry), and the relay, the views and the workers keep going.

The module's tests share one private stack (AGENTLOG_KAFKA_BROKERS=3, its own home and ports).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from contracts.routing import Routing
from stack import Stack
from tests.support.cli import agentlog
from tests.support.faults import (
    Tally,
    head,
    read_models_mismatching,
    relay_has,
    replies_wrong,
    start_writers,
    stored_events,
    views_have,
    wait_for,
)
from tests.support.private_stack import private_stack_env, settings, status
from tests.support.reading import AvroTopics
from tests.support.servers import mode

pytestmark = [
    pytest.mark.skipif(mode() != "native", reason="a cluster of its own needs the native launcher"),
    pytest.mark.serial,  # three Kafka JVMs, a node killed: alone, at the end of the suite
]
NODES = {"kafka": 1, "kafka-2": 2, "kafka-3": 3}
TOPICS = Routing().topics()
WRITERS = 4
QUIET = logging.getLogger("tests.cluster.kafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False
REPORT = Path(__file__).resolve().parents[2] / ".agentlog" / "kafka-cluster-report.json"


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]
    stack: Stack
    up_output: str

    @property
    def bootstrap(self) -> str:
        return self.stack.endpoints.kafka_bootstrap_servers

    def admin(self) -> AdminClient:
        # librdkafka logs each refused connection to the killed node; the test asserts on what it reads instead
        return AdminClient({"bootstrap.servers": self.bootstrap}, logger=QUIET)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_stack_env(kafka_brokers=3) as env:
        env["AGENTLOG_KAFKA_HEAP"] = "320m"  # three JVMs beside the registry's on a 2-core machine
        up = agentlog("stack", "up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        yield Cluster(env, Stack(settings(env)), up.stdout)


def test_the_launcher_runs_three_nodes_and_every_topic_lives_on_all_three(cluster):
    rows = status(cluster.env)
    assert {name: rows[name]["health"] for name in NODES} == dict.fromkeys(NODES, "healthy")
    addresses = [rows[name]["address"] for name in NODES]
    assert f"KAFKA_BOOTSTRAP_SERVERS={','.join(addresses)}" in cluster.up_output
    assert len({*addresses, *(str(rows[name]["pid"]) for name in NODES)}) == 6  # own ports, own processes

    admin = cluster.admin()
    metadata = admin.list_topics(timeout=10)
    assert sorted(metadata.brokers) == [1, 2, 3]
    for topic in [*TOPICS, "__consumer_offsets"]:
        replicas = {len(p.replicas) for p in metadata.topics[topic].partitions.values()}
        assert replicas == {3}, f"{topic}: {replicas}"
    resources = [ConfigResource("topic", topic) for topic in TOPICS]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2", resource


def partitions(admin: AdminClient) -> list[tuple[str, Any]]:
    """Each partition of agentlog's topics as (topic, its metadata: leader, replicas, in-sync replicas)."""
    metadata = admin.list_topics(timeout=10)
    return [(topic, p) for topic in TOPICS for p in metadata.topics[topic].partitions.values()]


def busiest_leader(cluster: Cluster, admin: AdminClient) -> str:
    """The node leading the partitions that hold the most records (their end offsets summed)."""
    load: Counter[int] = Counter()
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"load-{uuid.uuid4().hex}"}, logger=QUIET)
    try:
        for topic, p in partitions(admin):
            load[p.leader] += consumer.get_watermark_offsets(TopicPartition(topic, p.id), timeout=10)[1]
    finally:
        consumer.close()
    leader = load.most_common(1)[0][0]
    return next(name for name, node in NODES.items() if node == leader)


def every_partition(admin: AdminClient, holds: Callable[[Any], bool]) -> bool:
    """Whether `holds` is true of every partition's metadata; false while the metadata cannot be had (the admin
    client's request may time out on the node just killed, before it asks another)."""
    try:
        return all(holds(p) for _, p in partitions(admin))
    except KafkaException:
        return False


def leaders_moved_from(admin: AdminClient, node: int) -> bool:
    """Every partition has a leader again, none of them `node`, and `node` left every in-sync set."""
    return every_partition(admin, lambda p: p.leader not in (-1, node) and node not in p.isrs)


def fully_replicated(admin: AdminClient) -> bool:
    return every_partition(admin, lambda p: len(p.isrs) == 3)


def kill_and_bring_back(cluster: Cluster, tally: Tally) -> dict[str, Any]:
    """SIGKILL the busiest leader while the writers write, see the relay publish without it, restart it
    through the launcher and wait until it is in sync again; what happened when (seconds from the kill)."""
    admin, dsn = cluster.admin(), cluster.stack.endpoints.postgres_dsn
    victim = busiest_leader(cluster, admin)
    pid, written = cluster.stack.server(victim).pid(), head(dsn)
    assert pid is not None
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    seen: dict[str, Any] = {"killed": victim}
    seen["leaders_moved_s"] = wait_for(lambda: leaders_moved_from(admin, NODES[victim]), 60, "leaders elsewhere")
    moved = time.monotonic()
    wait_for(lambda: tally.accepted_at[-1] > moved, 60, "writes accepted with a node down")
    down_head = head(dsn)
    wait_for(lambda: relay_has(dsn, down_head), 60, "the relay publishing with a node down")
    seen["published_with_node_down_s"] = time.monotonic() - killed
    restart = agentlog("stack", "restart", victim, env=cluster.env)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    seen["events_stored_while_down"] = head(dsn) - written
    seen["node_back_s"] = time.monotonic() - killed
    wait_for(lambda: fully_replicated(admin), 90, f"{victim} back in every in-sync set")
    seen["in_sync_again_s"] = time.monotonic() - killed
    seen["writes_unanswered_s"] = tally.longest_gap(killed)
    return seen


def on_kafka(cluster: Cluster, stored: dict[str, list[tuple[int, str]]]) -> dict[str, int]:
    """Lost, duplicated and reordered counts over every stored event, read from each topic by a consumer that
    decodes through the registry: each stream's events on each topic once and in version order."""
    topics = AvroTopics(cluster.bootstrap, cluster.stack.endpoints.schema_registry_url)
    versions = {event_id: version for events in stored.values() for version, event_id in events}
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for topic in TOPICS:
        for _name, record in topics.records(topic):
            event_id = str(record["meta"]["event_id"])
            if event_id in versions:
                counts[event_id] += 1
                seen[(record["meta"]["stream_id"], topic)].append(record["meta"]["stream_version"])
    return {
        "lost": len(set(versions) - set(counts)),
        "duplicated": sum(n - 1 for n in counts.values()),
        "streams_reordered": sum(1 for got in seen.values() if got != sorted(got)),
    }


def tenant_key(cluster: Cluster, url: str) -> tuple[str, str]:
    env = cluster.stack.endpoints.as_env()
    tenant = f"cluster{uuid.uuid4().hex[:8]}"
    assert agentlog("tenants", "create", tenant, env=env).returncode == 0
    key = agentlog("tenants", "keys", "add", tenant, "--scope", "admin", env=env).stdout.strip().splitlines()[-1]
    limit = httpx.put(f"{url}/v1/budgets/{tenant}/limits", json={"daily_tokens": 10**9}, headers={"X-API-Key": key})
    assert limit.status_code == 200, limit.text  # every message is answered: no budget may run out
    return tenant, key


@pytest.mark.timeout(600)
def test_a_killed_partition_leader_loses_duplicates_and_reorders_nothing_and_consumers_go_on(cluster):
    endpoints, url = cluster.stack.endpoints, f"http://127.0.0.1:{cluster.stack.settings.api_port}"
    dsn = endpoints.postgres_dsn
    tenant, key = tenant_key(cluster, url)
    tally = Tally()
    thread, loop, stop = start_writers(url, key, tally, WRITERS)
    try:
        wait_for(lambda: len(tally.accepted) >= 60, 90, "writes before the kill")
        seen = kill_and_bring_back(cluster, tally)
        back = time.monotonic()
        wait_for(lambda: tally.accepted_at[-1] > back + 1, 60, "writes after the node came back")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)

    sessions = set(tally.accepted.values())
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        seen["all_answered_after_s"] = wait_for(
            lambda: not any(replies_wrong(client, s) for s in sessions), 180, "every message answered once"
        )
    final = head(dsn)
    seen["views_caught_up_after_s"] = wait_for(
        lambda: relay_has(dsn, final) and views_have(endpoints.redis_url, dsn, final), 120, "the final catch-up"
    )
    stored = stored_events(dsn, tenant)
    kafka = on_kafka(cluster, stored)
    figures = {
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in seen.items()},
        "accepted": len(tally.accepted),
        "stored_events": sum(map(len, stored.values())),
        "streams": len(stored),
        **kafka,
        "answers": dict(tally.statuses),
    }
    REPORT.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))
    assert set(tally.accepted) <= {event_id for events in stored.values() for _, event_id in events}
    assert (kafka["lost"], kafka["duplicated"], kafka["streams_reordered"]) == (0, 0, 0), figures
    assert read_models_mismatching(url, key, dsn, sessions) == []
    assert tally.server_errors == 0, tally.statuses
