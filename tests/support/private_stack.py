"""A second private stack on free ports, for tests that start, break and stop one of their own."""

from __future__ import annotations

import json
import random
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stack.config import REPO_ROOT
from tests.support.cli import agentlog

PORTS = (
    "POSTGRES",
    "REDIS",
    "KAFKA",
    "KAFKA_CONTROLLER",
    "REGISTRY",
    "REGISTRY_MANAGEMENT",
    "PROJECTIONS_METRICS",
    "RELAY_METRICS",
    "CONVERSATION_METRICS",
    "TOOLS_METRICS",
    "DELEGATION_METRICS",
    "API",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _kafka_ports(nodes: int, taken: set[int]) -> tuple[int, int]:
    """Client and controller ports of the first of `nodes` Kafka nodes (each further one 2 above:
    StackSettings.kafka_node_ports), all free, outside `taken`, and below the kernel's range of ports for
    outgoing connections: a killed node's port in that range may be given to any connection on the machine
    before the node is back (seen once: the restarted node failed on `Address already in use`)."""
    outgoing = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        # client ports even, controller ports odd: the two rows never meet
        client, controller = (random.randrange(start, outgoing - 2 * nodes, 2) for start in (20000, 20001))
        ports = [first + 2 * i for first in (client, controller) for i in range(nodes)]
        if not taken.intersection(ports) and all(map(_bindable, ports)):
            return client, controller


def _ports(kafka_brokers: int) -> dict[str, int]:
    """A free port for each setting; a Kafka cluster's where its nodes can be killed and come back."""
    ports = {name: free_port() for name in PORTS}
    if kafka_brokers > 1:
        ports["KAFKA"], ports["KAFKA_CONTROLLER"] = _kafka_ports(kafka_brokers, set(ports.values()))
    return ports


@contextmanager
def private_stack_env(kafka_brokers: int = 1) -> Iterator[dict[str, str]]:
    """AGENTLOG_* settings of a stack of its own (home and ports); stopped and deleted afterwards.

    The home is under the repository's .agentlog: the postgres user must be able to reach it.
    """
    home = REPO_ROOT / ".agentlog" / f"e2e-{uuid.uuid4().hex[:8]}"
    env = {"AGENTLOG_HOME": str(home), **{f"AGENTLOG_{name}_PORT": str(p) for name, p in _ports(kafka_brokers).items()}}
    if kafka_brokers > 1:
        env["AGENTLOG_KAFKA_BROKERS"] = str(kafka_brokers)
    try:
        yield env
    finally:
        agentlog("stack", "down", env=env)
        shutil.rmtree(home, ignore_errors=True)


def status(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`agentlog stack status --json` as a dict by process name."""
    done = agentlog("stack", "status", "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}
