"""Every agentlog process as its own OS process (relay, api, projections, the three workers) on a Postgres schema,
topic prefix and Redis prefix of its own, for end-to-end tests of the agent runtime."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from confluent_kafka.schema_registry import SchemaRegistryClient

from api.tenants import Tenants
from cli.provider import drop_keys, drop_schema
from stack import Endpoints
from stack.ports import free_port
from tests.conftest import registered_codec
from tests.support.cli import agentlog
from tests.support.processes import Processes, answers, until
from tests.support.reading import AvroTopics
from tests.support.tools import policy_folder
from workers.delegation.settings import new_secret

WORKERS = ("conversation", "tools", "delegation")


@dataclass
class Runtime:
    """The running processes, their API's URL, the tools worker's policy folder and the delegation worker's
    signing secret; tests make tenants of their own with `tenant`."""

    processes: Processes
    url: str
    servers: Endpoints
    schema: str
    prefix: str
    policies: Path
    secret: str
    metrics: dict[str, str] = field(default_factory=dict)  # each process's /metrics URL (the API's: its own port)

    def tenant(self, *scopes: str, policy: str | None = None) -> tuple[str, dict[str, str]]:
        """A new tenant with its Rego `policy` in the tools worker's folder, and the headers of a key with `scopes`."""
        tenant = f"t{uuid.uuid4().hex[:10]}"

        async def make() -> str:
            pool = await asyncpg.create_pool(
                self.servers.postgres_dsn, min_size=1, max_size=1, server_settings={"search_path": self.schema}
            )
            try:
                await Tenants(pool).create(tenant)
                return (await Tenants(pool).add_key(tenant, list(scopes)))[1]
            finally:
                await pool.close()

        if policy is not None:
            (self.policies / f"{tenant}.rego").write_text(policy)
        return tenant, {"X-API-Key": asyncio.run(make())}

    def records(self, topic: str) -> list[tuple[str, dict[str, Any]]]:
        """The records of one of the runtime's topics (name before the prefix), decoded by confluent-kafka."""
        topics = AvroTopics(self.servers.kafka_bootstrap_servers, self.servers.schema_registry_url)
        return topics.records(self.prefix + topic)

    def stop(self) -> dict[str, tuple[int, str, str]]:
        """SIGTERM every process: each one's exit code, stdout and stderr."""
        return {name: self.processes.stop(name) for name in list(self.processes.children)}


@contextmanager
def running_runtime(
    servers: Endpoints, registry: SchemaRegistryClient, logs: Path, chunk_delay: str = "0"
) -> Iterator[Runtime]:
    """Every process started once all said they run (logs in `logs`); stopped, and their data removed, at exit.

    `chunk_delay`: seconds between the deterministic responder's chunks."""
    unique = uuid.uuid4().hex[:8]
    schema, redis_prefix = f"e2e_{unique}", f"e2e:{unique}:"
    with registered_codec(servers, registry) as codec:
        env = {
            **servers.as_env(),
            "AGENTLOG_DB_SCHEMA": schema,
            "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
            "AGENTLOG_REDIS_PREFIX": redis_prefix,
            "AGENTLOG_TRACING": "true",  # as the local stack runs them: spans kept in Redis, beside the views
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # each process sends its finished spans every 0.1 s, not 5 s
        }
        migrated = agentlog("db", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        processes = Processes(env, logs)
        try:
            runtime = Runtime(processes, "", servers, schema, codec.routing.prefix, policy_folder(logs / "policies"),
                              new_secret())  # fmt: skip
            _start(runtime, chunk_delay)
            yield runtime
        finally:
            processes.stop_all()
            _clean(servers, schema, redis_prefix)


def _start(runtime: Runtime, chunk_delay: str) -> None:
    """The relay first (it makes the topics), then everything else at once; returns once all said they run."""
    processes = runtime.processes
    ports = {name: free_port() for name in ("relay", "projections", *WORKERS)}
    runtime.metrics = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    processes.start("relay", "relay", AGENTLOG_RELAY_METRICS_PORT=str(ports["relay"]))
    processes.ready("relay", "relay 'main':")
    port = free_port()
    processes.start("api", "api", AGENTLOG_API_PORT=str(port), AGENTLOG_API_CALLBACK_ALLOW_HOSTS="127.0.0.1")
    processes.start("projections", "projections", "run", AGENTLOG_PROJECTIONS_METRICS_PORT=str(ports["projections"]))
    worker = {name: {"AGENTLOG_WORKER_METRICS_PORT": str(ports[name])} for name in WORKERS}
    processes.start("conversation", "worker", "conversation", AGENTLOG_CONVERSATION_CHUNK_DELAY=chunk_delay,
                    **worker["conversation"])  # fmt: skip
    processes.start("tools", "worker", "tools", AGENTLOG_TOOLS_POLICY_DIR=str(runtime.policies), **worker["tools"])
    processes.start(
        "delegation",
        "worker",
        "delegation",
        AGENTLOG_WORKER_CALLBACK_SECRET=runtime.secret,
        AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS="127.0.0.1",
        **worker["delegation"],
    )
    for name, line in (("api", "agentlog API on"), ("projections", "projections running")):
        processes.ready(name, line)
    for name in WORKERS:
        processes.ready(name, f"worker '{name}' running")
    runtime.url = f"http://127.0.0.1:{port}"
    runtime.metrics["api"] = f"{runtime.url}/metrics"
    until(lambda: answers(f"{runtime.url}/health"), "the API answering")


def _clean(servers: Endpoints, schema: str, redis_prefix: str) -> None:
    drop_schema(servers.postgres_dsn, schema)
    drop_keys(servers.redis_url, redis_prefix)
