"""Settings of the projections process; every value has an environment name."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.settings import LOCAL_REGISTRY


class ProjectionSettings(BaseSettings):
    """REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, AGENTLOG_TOPIC_PREFIX, AGENTLOG_REDIS_PREFIX."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore", populate_by_name=True)

    redis_url: str = Field(default="redis://127.0.0.1:16379/0", validation_alias="REDIS_URL")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    schema_registry_url: str = Field(default=LOCAL_REGISTRY, validation_alias="SCHEMA_REGISTRY_URL")
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    redis_prefix: str = Field(default="agentlog:", pattern=r"^[A-Za-z0-9._:-]*$")
