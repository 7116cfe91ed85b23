"""The four servers for a test session: native (the launcher), external (env URLs) or testcontainers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from stack import Endpoints, Stack

ENV_NAMES = ("POSTGRES_DSN", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")
MODES = ("native", "external", "testcontainers")


def mode() -> str:
    """The server mode chosen with AGENTLOG_TEST_SERVERS (default native)."""
    chosen = os.environ.get("AGENTLOG_TEST_SERVERS", "native")
    if chosen not in MODES:
        raise pytest.UsageError(f"AGENTLOG_TEST_SERVERS={chosen!r}: choose one of {', '.join(MODES)}")
    return chosen


@contextmanager
def native() -> Iterator[Endpoints]:
    """The launcher's servers; those this session started are stopped at its end.

    Servers already running (`just up`) are reused and left running, so repeated runs are fast.
    """
    stack = Stack()
    started = stack.up()
    try:
        yield stack.endpoints
    finally:
        if started and not os.environ.get("AGENTLOG_KEEP_STACK"):
            stack.down(only=started)


@contextmanager
def external() -> Iterator[Endpoints]:
    """The user's own servers, named by the four standard environment variables."""
    missing = [name for name in ENV_NAMES if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(f"AGENTLOG_TEST_SERVERS=external needs {', '.join(missing)} to be set")
    yield Endpoints(*(os.environ[name] for name in ENV_NAMES))


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used, or None when one answers."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as e:
        return f"testcontainers needs a reachable Docker engine and none answered ({type(e).__name__}: {e})"
    return None


@contextmanager
def containers() -> Iterator[Endpoints]:
    """Throwaway containers of the same four servers: a run that asked for them and has no Docker engine stops,
    saying why (it does not skip: every test would then pass without having run)."""
    reason = docker_unavailable()
    if reason:
        raise pytest.UsageError(f"AGENTLOG_TEST_SERVERS=testcontainers: {reason}")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with (
        PostgresContainer("postgres:16-alpine", driver=None) as pg,
        RedisContainer("redis:7-alpine") as redis,
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        DockerContainer("apicurio/apicurio-registry:3.3.3").with_exposed_ports(8080) as registry,
    ):
        wait_for_logs(registry, "Listening on", timeout=120)
        host, port = registry.get_container_host_ip(), registry.get_exposed_port(8080)
        yield Endpoints(
            postgres_dsn=pg.get_connection_url(),
            redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            kafka_bootstrap_servers=kafka.get_bootstrap_server(),
            schema_registry_url=f"http://{host}:{port}/apis/ccompat/v7",
        )


def session_servers() -> Iterator[Endpoints]:
    """The servers for this test session in the chosen mode."""
    chosen = {"native": native, "external": external, "testcontainers": containers}[mode()]
    with chosen() as endpoints:
        yield endpoints
