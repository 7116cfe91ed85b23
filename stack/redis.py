"""Private Redis from Debian's packages, append-only file on so data survives restarts: one server, or with
AGENTLOG_REDIS_NODES=3 (or more) the masters of a Redis Cluster, which the last node to start creates."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis as redis_client

from stack import install
from stack.config import StackSettings
from stack.errors import StackError
from stack.server import Server

SLOTS_IN_ALL = 16384


class Redis(Server):
    """Node `node` of AGENTLOG_REDIS_NODES: node 1 is `redis` (the one server by default), further masters of a
    cluster are `redis-2`, `redis-3`, ... with their own ports, data, log and pid file."""

    def __init__(self, settings: StackSettings, node: int = 1) -> None:
        super().__init__(settings)
        self.node = node
        self.name = "redis" if node == 1 else f"redis-{node}"

    @property
    def clustered(self) -> bool:
        return self.settings.redis_nodes > 1

    @property
    def port(self) -> int:
        return self.settings.redis_node_ports(self.node)[0]

    @property
    def data_dir(self) -> Path:
        # a cluster node must start empty: never on the data of the one server a stack had before
        return self.settings.data / (f"redis-cluster-{self.node}" if self.clustered else "redis")

    def prepare(self) -> None:
        install.require_binary("/usr/bin/redis-server", "redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                   "--cluster-port", str(self.settings.redis_node_ports(self.node)[1])]  # fmt: skip
        return [
            "/usr/bin/redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--set-proc-title",
            "no",
            *(cluster if self.clustered else []),
        ]  # keep the data dir in the title: Server.pid checks it

    def _client(self, port: int | None = None) -> redis_client.Redis:
        port = port or self.port
        return redis_client.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def healthy(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except redis_client.RedisError:
            return False

    def version(self) -> str:
        with self._client() as client:
            return str(client.info("server")["redis_version"])

    def after_ready(self) -> None:
        """In a cluster, the last node creates it the first time (the others are up by then: a phase's servers
        are all launched before any is waited for); once created, every node waits until it serves all slots."""
        if not self.clustered:
            return
        if self.node == self.settings.redis_nodes and not self._cluster_info().get("cluster_slots_assigned"):
            self._create()
        if self._cluster_info().get("cluster_slots_assigned"):
            self._wait_for_cluster()

    def assess(self) -> tuple[str, str]:
        if not self.healthy():
            return "unhealthy", ""
        if self.clustered and (state := self._cluster_info().get("cluster_state")) != "ok":
            return "unhealthy", f"cluster_state {state}"
        return "healthy", ""

    def _cluster_info(self, port: int | None = None) -> dict[str, str | int]:
        """CLUSTER INFO with its numbers as numbers ({} while the node does not answer)."""
        try:
            with self._client(port) as client:
                info = client.cluster("INFO")
        except redis_client.RedisError:
            return {}
        return {key: int(value) if value.isdigit() else value for key, value in info.items()}

    def _ports(self) -> list[int]:
        return [self.settings.redis_node_ports(n)[0] for n in range(1, self.settings.redis_nodes + 1)]

    def _create(self) -> None:
        """Every master gets an even share of the slots (redis-cli's own split), no replicas."""
        install.require_binary("/usr/bin/redis-cli", "redis-tools")
        nodes = [f"127.0.0.1:{port}" for port in self._ports()]
        done = subprocess.run(
            ["/usr/bin/redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=self.settings.ready_timeout,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"creating the Redis Cluster failed: {done.stdout[-500:]}{done.stderr[-500:]}",
                             f"see {self.settings.logs}/redis*.log")  # fmt: skip

    def _wait_for_cluster(self) -> None:
        """Until every node says cluster_state:ok with every slot assigned (a node that restarted rejoins first)."""
        deadline = time.monotonic() + self.settings.ready_timeout
        while time.monotonic() < deadline:
            infos = [self._cluster_info(port) for port in self._ports()]
            if all(i.get("cluster_state") == "ok" and i.get("cluster_slots_ok") == SLOTS_IN_ALL for i in infos):
                return
            time.sleep(0.1)
        raise StackError("the Redis Cluster did not reach cluster_state:ok", f"see {self.settings.logs}/redis*.log")
