"""The launcher's own logic, without starting any server."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from stack import StackError, StackSettings, install, process
from stack.kafka import Kafka
from stack.redis import Redis
from tests.support.cli import agentlog


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "home", cache=tmp_path / "cache")


def test_ports_out_of_range_are_refused():
    with pytest.raises(ValidationError, match="redis_port"):
        StackSettings(redis_port=80)


def test_endpoints_follow_the_configured_ports(settings):
    env = settings.model_copy(update={"kafka_port": 29999}).endpoints().as_env()
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:29999"
    assert env["SCHEMA_REGISTRY_URL"].endswith(":18081/apis/ccompat/v7")
    assert env["POSTGRES_DSN"] == "postgresql://postgres@127.0.0.1:15432/agentlog"


def test_a_taken_port_is_reported_with_the_setting_to_change(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Redis(settings.model_copy(update={"redis_port": port}))
        with pytest.raises(StackError) as error:
            server.launch()
    assert f"port {port} for redis is taken" in error.value.cause
    assert "AGENTLOG_REDIS_PORT" in error.value.fix
    assert not server.pid_file.exists()


def test_kafka_properties_run_a_single_node_with_single_replica_internal_topics(settings):
    props = dict(line.split("=", 1) for line in Kafka(settings)._properties().splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1"


def test_a_missing_java_names_the_version_needed():
    with pytest.raises(StackError, match="no Java 99 or newer found for the test"):
        install.find_java(99, None, "the test")


def test_a_bad_java_home_is_named(tmp_path):
    with pytest.raises(StackError, match=f"{tmp_path} is not a JDK 17"):
        install.find_java(17, tmp_path, "Kafka")


def test_the_installed_java_is_found_with_its_version():
    java = install.find_java(17, None, "Kafka")
    assert (install.java_major(java) or 0) >= 17


def test_fetch_once_leaves_nothing_behind_on_failure_and_fetches_only_once(tmp_path):
    dest = tmp_path / "thing"
    calls = []

    def broken(into: Path) -> None:
        (into / "half.jar").write_text("partial")
        raise StackError("download failed", "retry")

    with pytest.raises(StackError):
        install.fetch_once(dest, broken)
    assert not dest.exists()

    def works(into: Path) -> None:
        calls.append(into)
        (into / "whole.jar").write_text("jar")

    install.fetch_once(dest, works)
    install.fetch_once(dest, works)
    assert len(calls) == 1
    assert (dest / "whole.jar").read_text() == "jar"
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]


def test_a_spawned_process_is_tracked_by_its_marker_and_stopped(tmp_path):
    marker = str(tmp_path / "marker")
    pid_file = tmp_path / "sleep.pid"
    pid = process.spawn([sys.executable, "-c", "import time; time.sleep(60)", marker], tmp_path / "sleep.log", pid_file)

    assert process.tracked_pid(pid_file, marker) == pid
    assert process.tracked_pid(pid_file, "some other stack") is None

    process.terminate(pid, timeout=5)
    assert not process.alive(pid)
    assert process.tracked_pid(pid_file, marker) is None


def test_wait_until_quotes_the_log_when_the_process_dies(tmp_path):
    log = tmp_path / "dies.log"
    pid = process.spawn(
        [sys.executable, "-c", "print('bad config: port'); raise SystemExit(3)"], log, tmp_path / "dies.pid"
    )
    with pytest.raises(StackError, match="dies exited during start-up: bad config: port"):
        process.wait_until(lambda: False, what="dies", pid=pid, log=log, timeout=10)


def test_wait_until_gives_up_after_its_timeout(tmp_path):
    pid = process.spawn(
        [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "slow.log", tmp_path / "slow.pid"
    )
    try:
        with pytest.raises(StackError, match="slow was not ready after 1 s"):
            process.wait_until(lambda: False, what="slow", pid=pid, log=tmp_path / "slow.log", timeout=1)
    finally:
        process.terminate(pid, timeout=5)


def test_cli_reports_a_bad_setting_in_one_line_without_a_traceback(tmp_path):
    done = agentlog("stack", "status", env={"AGENTLOG_REDIS_PORT": "not-a-port", "AGENTLOG_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "AGENTLOG_REDIS_PORT='not-a-port'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_cli_names_an_unknown_server(tmp_path):
    done = agentlog("stack", "logs", "mongo", env={"AGENTLOG_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "unknown server 'mongo'" in done.stderr
    assert "postgres, redis, kafka, registry" in done.stderr


def test_cli_status_of_a_stack_never_started_shows_every_server_stopped(tmp_path):
    ports = {
        f"AGENTLOG_{name}_PORT": str(port)
        for name, port in (("POSTGRES", 25401), ("REDIS", 25402), ("KAFKA", 25403), ("REGISTRY", 25404))
    }
    done = agentlog("stack", "status", env={"AGENTLOG_HOME": str(tmp_path), **ports})
    assert done.returncode == 1
    for name in ("postgres", "redis", "kafka", "registry"):
        assert any(name in line and "stopped" in line for line in done.stdout.splitlines())
