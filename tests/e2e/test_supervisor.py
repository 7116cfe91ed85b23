"""An operator's view of the launcher and the supervisor on a stack of our own: up (twice), status, SIGKILL
agentlog's processes and watch them come back, restart, a killed supervisor, down; and an up that fails.

The module's tests share one private stack (its first start is the first test), so they run on one
xdist worker in file order (tests/conftest.py groups a module with a module-scoped fixture).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack import process
from stack.apps import SUPERVISED
from stack.server import MARKER
from tests.support.cli import agentlog
from tests.support.private_stack import private_stack_env, status
from tests.support.servers import mode

pytestmark = [
    pytest.mark.skipif(mode() != "native", reason="the supervisor test drives the native launcher"),
    pytest.mark.faults,  # the supervisor's work is riding out kills: its processes', and its own
]
SERVERS = ("postgres", "redis", "kafka", "registry", "relay", "projections", "api", "supervisor")


@pytest.fixture(scope="module")
def stack_env() -> Iterator[dict[str, str]]:
    with private_stack_env() as env:
        yield env


@pytest.fixture
def env(stack_env: dict[str, str]) -> dict[str, str]:
    """The private stack, up (idempotent: a test that stopped it leaves the next one a fresh start)."""
    up = agentlog("stack", "up", env=stack_env)
    assert up.returncode == 0, up.stdout + up.stderr
    return stack_env


def pids(env: dict[str, str]) -> dict[str, int]:
    run = Path(env["AGENTLOG_HOME"]) / "run"
    return {name: int((run / f"{name}.pid").read_text()) for name in SERVERS}


def test_up_starts_everything_status_says_healthy_and_a_second_up_changes_nothing(stack_env):
    first = agentlog("stack", "up", env=stack_env)  # the first test: the stack's first start
    assert first.returncode == 0, first.stderr
    assert "started postgres, redis, kafka, registry, supervisor, relay, projections, api" in first.stdout
    started = pids(stack_env)

    table = agentlog("stack", "status", env=stack_env)
    assert table.returncode == 0, table.stdout
    rows = [line for line in table.stdout.splitlines() if any(s in line for s in SERVERS)]
    assert len(rows) == 8
    assert all("healthy" in row and stack_env["AGENTLOG_HOME"] not in row for row in rows)
    assert f"127.0.0.1:{stack_env['AGENTLOG_KAFKA_PORT']}" in table.stdout

    second = agentlog("stack", "up", env=stack_env)
    assert second.returncode == 0
    assert "all servers were already running" in second.stdout
    assert pids(stack_env) == started


def back_up(env: dict[str, str], name: str, old_pid: int, timeout: float = 90.0) -> dict[str, Any]:
    """Poll the stack's status until `name` runs under a pid other than old_pid and is healthy."""
    deadline = time.monotonic() + timeout
    while True:
        row = status(env)[name]
        if row["pid"] not in (None, old_pid) and row["health"] == "healthy":
            return row
        assert time.monotonic() < deadline, f"{name} not healthy again within {timeout} s: {row}"
        time.sleep(0.5)


@pytest.mark.parametrize("name", ["relay", "api"])
def test_a_sigkilled_process_comes_back_under_a_new_pid_and_status_counts_the_restart(env, name):
    before = status(env)[name]
    assert before["health"] == "healthy"

    os.kill(before["pid"], signal.SIGKILL)

    after = back_up(env, name, before["pid"])
    assert after["restarts"] >= before["restarts"] + 1
    assert after["last_exit"] == -signal.SIGKILL
    assert after["last_start"] > (before["last_start"] or "")
    table = agentlog("stack", "status", env=env)
    assert table.returncode == 0, table.stdout
    row = next(line for line in table.stdout.splitlines() if line.startswith(f"│ {name} "))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[4].split(" (")[0] == "healthy" and cells[5] == str(after["restarts"])


def test_the_api_answers_again_after_a_sigkill(env):
    api = status(env)["api"]
    os.kill(api["pid"], signal.SIGKILL)
    back_up(env, "api", api["pid"])

    health = httpx.get(f"http://127.0.0.1:{env['AGENTLOG_API_PORT']}/health", timeout=10)
    assert health.status_code == 200


def test_stack_restart_of_a_supervised_process_starts_a_new_instance(env):
    before = status(env)["projections"]

    done = agentlog("stack", "restart", "projections", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert not process.alive(before["pid"])
    after = back_up(env, "projections", before["pid"])  # degraded until its first measure of progress
    assert after["restarts"] == before["restarts"] + 1


def test_a_killed_supervisor_is_missed_by_status_and_the_next_up_adopts_the_running_processes(env):
    before = status(env)
    os.kill(before["supervisor"]["pid"], signal.SIGKILL)
    wait_for(lambda: status(env)["supervisor"]["health"] == "stopped", "status sees the supervisor gone")

    unsupervised = agentlog("stack", "status", "--json", env=env)
    assert unsupervised.returncode == 1
    relay = status(env)["relay"]
    assert (relay["pid"], relay["health"]) == (before["relay"]["pid"], "healthy")
    assert "not supervised" in relay["detail"]

    up = agentlog("stack", "up", env=env)

    assert up.returncode == 0, up.stdout + up.stderr
    assert "started supervisor" in up.stdout
    after = status(env)
    assert {name: after[name]["pid"] for name in ("relay", "projections", "api")} == {
        name: before[name]["pid"] for name in ("relay", "projections", "api")
    }
    os.kill(after["relay"]["pid"], signal.SIGKILL)
    again = back_up(env, "relay", after["relay"]["pid"])
    assert again["restarts"] == after["relay"]["restarts"] + 1


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.3)


def test_down_stops_the_supervisor_first_restarts_nothing_and_leaves_no_process(env):
    before = status(env)
    pids = [row["pid"] for row in before.values()]
    assert None not in pids

    down = agentlog("stack", "down", env=env)

    assert down.returncode == 0, down.stderr
    apps = ", ".join(app.name for app in reversed(SUPERVISED))
    assert f"stopped supervisor, {apps}, registry, kafka, redis, postgres" in down.stdout
    assert [pid for pid in pids if process.alive(pid)] == []
    assert processes_of(Path(env["AGENTLOG_HOME"])) == []
    after = status(env)
    assert {name: row["restarts"] for name, row in after.items()} == {
        name: row["restarts"] for name, row in before.items()
    }
    assert {row["health"] for row in after.values()} == {"stopped"}


def processes_of(home: Path) -> list[str]:
    """Every live process whose command line or stack marker names the home: none once it is down."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not process.alive(int(entry.name)):
            continue
        mentions = str(home) in process.cmdline(int(entry.name))
        marked = f"{MARKER}={home}" in process.environ(int(entry.name))
        if mentions or marked:
            found.append(f"{entry.name}: {process.cmdline(int(entry.name))[:120]}")
    return found


def test_a_failed_up_names_the_cause_and_stops_what_it_started():
    with private_stack_env() as env:
        env["AGENTLOG_REGISTRY_JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"

        failed = agentlog("stack", "up", env=env)

        assert failed.returncode == 1
        assert "java-17-openjdk-amd64 is not a JDK 21+ (Apicurio Registry)" in failed.stderr
        assert "Traceback" not in failed.stderr + failed.stdout
        assert "kafka stopped" in failed.stdout
        assert list((Path(env["AGENTLOG_HOME"]) / "run").glob("*.pid")) == []
        table = agentlog("stack", "status", env=env)
        assert table.stdout.count("stopped") == 5 + len(SUPERVISED)  # the four servers, the supervisor, its processes
