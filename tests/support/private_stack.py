"""A second private stack on free ports, for tests that start, break and stop one of their own."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from stack.config import REPO_ROOT, StackSettings
from stack.ports import free_ports
from stack.stack import Stack
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


def _ports(kafka_brokers: int) -> dict[str, int]:
    """A free port for each setting, all from one free block; Kafka's client and controller ports alternate in it
    (each further node 2 above the first: StackSettings.kafka_node_ports)."""
    others = [name for name in PORTS if not name.startswith("KAFKA")]
    first = free_ports(len(others) + 2 * kafka_brokers)
    ports = {name: first + i for i, name in enumerate(others)}
    kafka = first + len(others)
    return ports | {"KAFKA": kafka, "KAFKA_CONTROLLER": kafka + 1}


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


class _Settings(StackSettings):
    """The settings env names and nothing else (not this process's AGENTLOG_* variables)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *others: Any, **named: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings(env: dict[str, str]) -> StackSettings:
    """The settings of the stack env names (AGENTLOG_* variables), validated from env alone."""
    named: dict[str, Any] = {name.removeprefix("AGENTLOG_").lower(): value for name, value in env.items()}
    return _Settings(**named)


def status(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The rows of `agentlog stack status --json` for the stack env names, by process name, read in this process
    (a poll every half second through the command cost a CPU-second or more each; the command's output has tests of
    its own)."""
    return {row.name: dataclasses.asdict(row) for row in Stack(settings(env)).status()}
