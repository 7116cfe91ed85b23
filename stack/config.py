"""Launcher settings (ports, folders, versions) and the endpoints clients connect to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackSettings(BaseSettings):
    """Where the private servers live and listen; every value has an `AGENTLOG_` environment name."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore")

    home: Path = Field(default=REPO_ROOT / ".agentlog", description="data, logs and pid files")
    cache: Path = Field(default=Path.home() / ".cache" / "agentlog", description="downloaded jars")
    postgres_port: int = Field(default=15432, ge=1024, le=65535)
    redis_port: int = Field(default=16379, ge=1024, le=65535)
    redis_nodes: int = Field(
        default=1, ge=1, le=9, description="Redis masters: 1 (one server), or a Redis Cluster of 3-9"
    )
    kafka_port: int = Field(default=19092, ge=1024, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1024, le=65535)
    kafka_brokers: int = Field(default=1, ge=1, le=5, description="Kafka nodes (broker and controller each): 1, or 3-5")
    registry_port: int = Field(default=18081, ge=1024, le=65535)
    registry_management_port: int = Field(default=18082, ge=1024, le=65535)
    projections_metrics_port: int = Field(default=19100, ge=1024, le=65535, description="the projections' /metrics")
    projections_processes: int = Field(default=1, ge=1, le=9, description="projections processes sharing the views")
    relay_metrics_port: int = Field(default=19101, ge=1024, le=65535, description="the relay's /metrics")
    relays: int = Field(default=1, ge=1, le=9, description="relay processes: one active, the others standing by")
    conversation_metrics_port: int = Field(default=19102, ge=1024, le=65535, description="its worker's /metrics")
    tools_metrics_port: int = Field(default=19103, ge=1024, le=65535, description="the tool executor's /metrics")
    delegation_metrics_port: int = Field(default=19104, ge=1024, le=65535, description="its worker's /metrics")
    api_port: int = Field(default=18000, ge=1024, le=65535, description="the REST API")
    kafka_version: str = "4.1.1"
    log4j_version: str = "2.25.3"
    registry_version: str = "3.3.3"
    kafka_heap: str = "512m"
    registry_heap: str = "384m"
    java_home: Path | None = Field(default=None, description="JDK for Kafka (17+)")
    registry_java_home: Path | None = Field(default=None, description="JDK for the registry (21+)")
    ready_timeout: float = Field(default=120.0, gt=0)
    database: str = "agentlog"
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$", description="prefix of every topic")

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    def kafka_node_ports(self, node: int) -> tuple[int, int]:
        """Kafka node `node`'s (client, controller) ports: node 1 on the settings, each further one 2 above."""
        step = 2 * (node - 1)
        return self.kafka_port + step, self.kafka_controller_port + step

    @model_validator(mode="after")
    def _kafka_nodes_fit(self) -> Self:
        # two voters stop when either stops: a quorum of two tolerates no failure, unlike one that never promised to
        if self.kafka_brokers == 2:
            raise ValueError("kafka_brokers=2 survives no broker failure; choose 1, or 3 to 5")
        if self.kafka_brokers > 1:
            kafka = [port for node in range(1, self.kafka_brokers + 1) for port in self.kafka_node_ports(node)]
            others = {value for key, value in self if key.endswith("_port") and not key.startswith("kafka_")}
            if clash := [port for port in kafka if port in others or port > 65535 or kafka.count(port) > 1]:
                raise ValueError(f"a Kafka node would listen on {clash[0]}, taken by another setting or out of range")
        return self

    def redis_node_ports(self, node: int) -> tuple[int, int]:
        """Redis Cluster node `node`'s (client, cluster bus) ports: clients on consecutive ports from the setting's,
        the buses right above them (the usual client port + 10000 may not exist)."""
        return self.redis_port + node - 1, self.redis_port + self.redis_nodes + node - 1

    @model_validator(mode="after")
    def _redis_nodes_fit(self) -> Self:
        if self.redis_nodes == 2:  # redis-cli --cluster create, and a majority of masters, need three
            raise ValueError("redis_nodes=2: a Redis Cluster needs at least 3 masters; choose 1, or 3 to 9")
        if self.redis_nodes > 1:
            redis = [port for node in range(1, self.redis_nodes + 1) for port in self.redis_node_ports(node)]
            others = {value for key, value in self if key.endswith("_port") and key != "redis_port"}
            if clash := [port for port in redis if port in others or port > 65535]:
                raise ValueError(f"a Redis node would listen on {clash[0]}, taken by another setting or out of range")
        return self

    def _redis_url(self) -> str:
        if self.redis_nodes == 1:
            return f"redis://127.0.0.1:{self.redis_port}/0"
        nodes = ",".join(f"127.0.0.1:{self.redis_node_ports(n)[0]}" for n in range(1, self.redis_nodes + 1))
        return f"redis+cluster://{nodes}"  # observability.redisconn reads it

    @staticmethod
    def numbered_port(port: int, number: int) -> int:
        """The port of process `number` (1 first) of a kind the stack runs several of: the setting's `port` for the
        first, each further one 10 above (metrics ports of one kind sit 1 apart from the other kinds')."""
        return port + 10 * (number - 1)

    def endpoints(self) -> Endpoints:
        brokers = range(1, self.kafka_brokers + 1)
        return Endpoints(
            postgres_dsn=f"postgresql://postgres@127.0.0.1:{self.postgres_port}/{self.database}",
            redis_url=self._redis_url(),
            kafka_bootstrap_servers=",".join(f"127.0.0.1:{self.kafka_node_ports(n)[0]}" for n in brokers),
            schema_registry_url=f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7",
        )


@dataclass(frozen=True)
class Endpoints:
    """How to reach the four servers, in the form each client library takes."""

    postgres_dsn: str
    redis_url: str
    kafka_bootstrap_servers: str
    schema_registry_url: str

    def as_env(self) -> dict[str, str]:
        return {
            "POSTGRES_DSN": self.postgres_dsn,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "SCHEMA_REGISTRY_URL": self.schema_registry_url,
        }
