"""Settings of processes that use the contracts: registry URL and topic prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_REGISTRY = "http://127.0.0.1:18081/apis/ccompat/v7"


class ContractsSettings(BaseSettings):
    """`SCHEMA_REGISTRY_URL` (default: the local stack's registry) and `AGENTLOG_TOPIC_PREFIX`."""

    model_config = SettingsConfigDict(extra="ignore")

    schema_registry_url: str = Field(default=LOCAL_REGISTRY, validation_alias="SCHEMA_REGISTRY_URL")
    topic_prefix: str = Field(default="", validation_alias="AGENTLOG_TOPIC_PREFIX", pattern=r"^[A-Za-z0-9._-]*$")
