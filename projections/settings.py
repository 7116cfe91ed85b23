"""Settings of the projections process; every value has an environment name."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.settings import LOCAL_REGISTRY
from domain.delegation.callback import normal_host


def _names(value: object) -> object:
    """Comma-separated text or a list, in normal form (lower case; hosts without brackets or final dot)."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, list | tuple):
        return [normal_host(str(item)) for item in items if str(item).strip()]
    return items


# A setting listing hosts (or tenants) of every process: `hooks.internal,10.0.0.7` in the environment.
NameList = Annotated[list[str], NoDecode, BeforeValidator(_names)]


class ReadSideSettings(BaseSettings):
    """Where the servers and the views are: REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL,
    POSTGRES_DSN, AGENTLOG_DB_SCHEMA, AGENTLOG_TOPIC_PREFIX, AGENTLOG_REDIS_PREFIX (the API's too)."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore", populate_by_name=True)

    redis_url: str = Field(default="redis://127.0.0.1:16379/0", validation_alias="REDIS_URL")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    schema_registry_url: str = Field(default=LOCAL_REGISTRY, validation_alias="SCHEMA_REGISTRY_URL")
    postgres_dsn: str = Field(default="postgresql://postgres@127.0.0.1:15432/agentlog", validation_alias="POSTGRES_DSN")
    db_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]*$")
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    redis_prefix: str = Field(default="agentlog:", pattern=r"^[A-Za-z0-9._:-]*$")


class ProjectionSettings(ReadSideSettings):
    """The servers, plus AGENTLOG_PROJECTION_* and AGENTLOG_PROJECTIONS_METRICS_PORT."""

    projection_batch: int = Field(default=2000, ge=1, le=100_000, description="events per Redis round trip")
    projection_retries: int = Field(default=3, ge=0, le=20, description="retries of a poison event")
    projection_backoff: float = Field(default=0.2, ge=0, le=60, description="first retry delay, doubled each time")
    projections_metrics_port: int = Field(default=19100, ge=0, le=65535, description="/metrics port, 0: none")
