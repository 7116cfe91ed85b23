"""A second private stack on free ports, for tests that start, break and stop one of their own."""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stack.config import REPO_ROOT
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_stack_env() -> Iterator[dict[str, str]]:
    """AGENTLOG_* settings of a stack of its own (home and ports); stopped and deleted afterwards.

    The home is under the repository's .agentlog: the postgres user must be able to reach it.
    """
    home = REPO_ROOT / ".agentlog" / f"e2e-{uuid.uuid4().hex[:8]}"
    env = {"AGENTLOG_HOME": str(home), **{f"AGENTLOG_{name}_PORT": str(free_port()) for name in PORTS}}
    try:
        yield env
    finally:
        agentlog("stack", "down", env=env)
        shutil.rmtree(home, ignore_errors=True)


def status(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`agentlog stack status --json` as a dict by process name."""
    done = agentlog("stack", "status", "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}
