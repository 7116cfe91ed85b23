"""A newcomer's view of the launcher: a second private stack through the real `agentlog` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import process
from stack.apps import SUPERVISED
from tests.support.cli import agentlog
from tests.support.private_stack import private_stack_env
from tests.support.servers import mode

pytestmark = pytest.mark.skipif(mode() != "native", reason="the lifecycle test drives the native launcher")
SERVERS = ("postgres", "redis", "kafka", "registry", "relay", "projections", "api", "supervisor")


@pytest.fixture
def private_env():
    with private_stack_env() as env:
        yield env


def pids(env: dict[str, str]) -> dict[str, int]:
    run = Path(env["AGENTLOG_HOME"]) / "run"
    return {name: int((run / f"{name}.pid").read_text()) for name in SERVERS}


def test_up_is_idempotent_status_is_healthy_and_down_leaves_no_process(private_env):
    first = agentlog("stack", "up", env=private_env)
    assert first.returncode == 0, first.stderr
    assert "started postgres, redis, kafka, registry, supervisor, relay, projections, api" in first.stdout
    started = pids(private_env)

    status = agentlog("stack", "status", env=private_env)
    assert status.returncode == 0, status.stdout
    rows = [line for line in status.stdout.splitlines() if any(s in line for s in SERVERS)]
    assert len(rows) == 8
    assert all("healthy" in row and private_env["AGENTLOG_HOME"] not in row for row in rows)
    assert f"127.0.0.1:{private_env['AGENTLOG_KAFKA_PORT']}" in status.stdout

    second = agentlog("stack", "up", env=private_env)
    assert second.returncode == 0
    assert "all servers were already running" in second.stdout
    assert pids(private_env) == started

    down = agentlog("stack", "down", env=private_env)
    assert down.returncode == 0
    apps = ", ".join(app.name for app in reversed(SUPERVISED))  # every supervised process, last started first
    assert f"stopped supervisor, {apps}, registry, kafka, redis, postgres" in down.stdout
    assert not [name for name, pid in started.items() if process.alive(pid)]
    assert agentlog("stack", "status", env=private_env).returncode == 1


def test_a_failed_up_names_the_cause_and_stops_what_it_started(private_env):
    private_env["AGENTLOG_REGISTRY_JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"

    failed = agentlog("stack", "up", env=private_env)

    assert failed.returncode == 1
    assert "java-17-openjdk-amd64 is not a JDK 21+ (Apicurio Registry)" in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    assert "kafka stopped" in failed.stdout
    run = Path(private_env["AGENTLOG_HOME"]) / "run"
    assert list(run.glob("*.pid")) == []
    status = agentlog("stack", "status", env=private_env)
    assert status.stdout.count("stopped") == 5 + len(SUPERVISED)  # the four servers, the supervisor, its processes
