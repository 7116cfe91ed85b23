"""Launcher settings (ports, folders, versions) and the endpoints clients connect to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackSettings(BaseSettings):
    """Where the private servers live and listen; every value has an `AGENTLOG_` environment name."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore")

    home: Path = Field(default=REPO_ROOT / ".agentlog", description="data, logs and pid files")
    cache: Path = Field(default=Path.home() / ".cache" / "agentlog", description="downloaded jars")
    postgres_port: int = Field(default=15432, ge=1024, le=65535)
    redis_port: int = Field(default=16379, ge=1024, le=65535)
    kafka_port: int = Field(default=19092, ge=1024, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1024, le=65535)
    registry_port: int = Field(default=18081, ge=1024, le=65535)
    registry_management_port: int = Field(default=18082, ge=1024, le=65535)
    projections_metrics_port: int = Field(default=19100, ge=1024, le=65535, description="the projections' /metrics")
    relay_metrics_port: int = Field(default=19101, ge=1024, le=65535, description="the relay's /metrics")
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

    def endpoints(self) -> Endpoints:
        return Endpoints(
            postgres_dsn=f"postgresql://postgres@127.0.0.1:{self.postgres_port}/{self.database}",
            redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
            kafka_bootstrap_servers=f"127.0.0.1:{self.kafka_port}",
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
