"""Settings of the write-side processes (relay, migrations); every value has an environment name."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_DSN = "postgresql://postgres@127.0.0.1:15432/agentlog"
LOCAL_KAFKA = "127.0.0.1:19092"


class EventStoreSettings(BaseSettings):
    """Where the event store and Kafka are, and how the relay batches.

    Environment: POSTGRES_DSN, KAFKA_BOOTSTRAP_SERVERS, AGENTLOG_DB_SCHEMA, AGENTLOG_TOPIC_PREFIX,
    AGENTLOG_TOPIC_PARTITIONS, AGENTLOG_RELAY_NAME, AGENTLOG_RELAY_BATCH_SIZE, AGENTLOG_RELAY_POLL_INTERVAL,
    AGENTLOG_RELAY_METRICS_PORT.
    """

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore", populate_by_name=True)

    postgres_dsn: str = Field(default=LOCAL_DSN, validation_alias="POSTGRES_DSN")
    kafka_bootstrap_servers: str = Field(default=LOCAL_KAFKA, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    db_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]*$")
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    topic_partitions: int = Field(default=3, ge=1, le=256)
    relay_name: str = Field(default="main", min_length=1)
    relay_batch_size: int = Field(default=5000, ge=1, le=100_000)
    relay_poll_interval: float = Field(default=0.5, gt=0, le=60)
    relay_standby_interval: float = Field(
        default=0.5, gt=0, le=60, description="seconds between a standing-by relay's tries for the lock"
    )
    relay_metrics_port: int = Field(default=0, ge=0, le=65535, description="/metrics port, 0: none")
