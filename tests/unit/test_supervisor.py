"""The supervisor's backoff schedule, and its loop over small real child processes (no servers)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stack import StackError, StackSettings, process, supervision
from stack.apps import AppProcess
from stack.supervisor import Backoff, Supervisor, describe
from tests.support.cli import agentlog_process


def test_the_backoff_doubles_from_half_a_second_up_to_its_cap():
    backoff = Backoff()
    delays = [backoff.after_exit(ran_for=1.0) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.failures == 9


def test_a_process_that_ran_long_enough_starts_the_backoff_again():
    backoff = Backoff(base=1.0, factor=3.0, cap=100.0, stable_after=60.0)
    assert [backoff.after_exit(ran_for=5.0) for _ in range(3)] == [1.0, 3.0, 9.0]
    assert backoff.after_exit(ran_for=60.0) == 1.0
    assert backoff.after_exit(ran_for=0.1) == 3.0


def test_exit_statuses_are_told_in_words():
    assert describe(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe(3) == "exit code 3"
    assert describe(None) == "exit code unknown (adopted process)"


class Toy(AppProcess):
    """A small real process under the supervisor: `script` prints the ready line, then sleeps."""

    name = "toy"
    ready_text = "toy ready"
    script = "import time; print('toy ready', flush=True); time.sleep(60)"

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script]


class Crasher(Toy):
    name = "crasher"
    script = "print('toy ready', flush=True); raise SystemExit(3)"


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / f"home-{uuid.uuid4().hex[:6]}", cache=tmp_path / "cache")


@pytest.fixture
def supervise(settings: StackSettings) -> Iterator[Callable[..., None]]:
    """Run a supervisor over the given apps in a thread; stop it, then its children, after the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    apps: list[AppProcess] = []

    def start(*running: AppProcess) -> None:
        fast = Supervisor(settings, running, poll=0.05, backoff=lambda: Backoff(base=0.1, cap=0.4))
        apps.extend(running)
        threads.append(threading.Thread(target=fast.run, args=(stop,)))
        threads[-1].start()
        until(lambda: supervision.read(settings) is not None, "the supervisor's first state")

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    for app in apps:
        app.stop()


def record(settings: StackSettings, name: str) -> supervision.ProcessRecord:
    state = supervision.read(settings)
    assert state is not None, "the supervisor wrote no state"
    return state.processes[name]


def until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_a_killed_process_is_started_again_under_a_new_pid_and_counted(settings, supervise):
    toy = Toy(settings)
    supervise(toy)
    until(toy.healthy, "toy started and ready")
    first = toy.pid()
    assert first is not None
    assert record(settings, "toy").restarts == 0

    os.kill(first, signal.SIGKILL)

    until(lambda: record(settings, "toy").pid not in (None, first) and toy.healthy(), "toy started again and ready")
    again = record(settings, "toy")
    assert (again.pid, again.restarts, again.last_exit) == (toy.pid(), 1, -signal.SIGKILL)
    assert again.last_start is not None


def test_a_restarted_process_is_not_ready_on_its_previous_instances_line(settings, supervise):
    toy = Toy(settings)
    toy.script = "import time; time.sleep(1.5); print('toy ready', flush=True); time.sleep(60)"
    supervise(toy)
    until(toy.healthy, "toy ready", timeout=20)
    first = toy.pid()
    os.kill(first or 0, signal.SIGKILL)

    until(lambda: toy.pid() not in (None, first), "toy started again")
    assert not toy.healthy(), "the first instance's ready line was taken for the second's"
    until(toy.healthy, "the second instance ready")


def test_a_process_dying_at_start_up_waits_longer_each_time(settings, supervise):
    crasher = Crasher(settings)
    supervise(crasher)

    until(lambda: record(settings, "crasher").restarts >= 3, "three restarts")
    down = record(settings, "crasher")
    assert down.last_exit == 3
    until(lambda: "next start in 0.4 s" in record(settings, "crasher").detail, "the wait reaches its cap")


def test_a_start_that_fails_before_the_process_runs_is_reported_with_its_fix(settings, supervise):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        class Listener(Toy):
            name = "listener"

            @property
            def port(self) -> int:
                return port

        listener = Listener(settings)
        supervise(listener)
        until(lambda: record(settings, "listener").fix != "", "the failed start recorded")
        assert f"port {port} for listener is taken" in record(settings, "listener").detail
        with pytest.raises(StackError, match="is taken by another process"):
            listener.wait_ready()


def test_a_running_process_is_adopted_not_started_twice_and_restarted_when_it_dies(settings, supervise):
    toy = Toy(settings)
    proc = toy.start()
    supervise(toy)
    assert record(settings, "toy").pid == proc.pid
    assert toy.pid() == proc.pid

    proc.kill()
    proc.wait()

    # the state file is written just after the new pid file: wait for the record, as `stack status` reads it
    until(lambda: record(settings, "toy").pid not in (None, proc.pid), "toy started again")
    again = record(settings, "toy")
    assert again.restarts == 1
    assert toy.pid() == again.pid


def test_a_stopped_supervisor_restarts_nothing(settings):
    toy = Toy(settings)
    stop = threading.Event()
    thread = threading.Thread(target=Supervisor(settings, [toy], poll=0.05).run, args=(stop,))
    thread.start()
    until(toy.healthy, "toy ready")
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()

    pid = toy.pid()
    toy.stop()
    assert pid is not None and not process.alive(pid)
    assert toy.pid() is None
    assert record(settings, "toy").restarts == 0


def test_a_second_supervisor_of_the_same_stack_refuses_to_run(settings):
    with process.exclusive(settings.run / "supervisor.lock", wait=False):
        done = agentlog_process("stack", "supervise", env={"AGENTLOG_HOME": str(settings.home)}, timeout=60)
    assert done.returncode == 1
    assert "another supervisor of this stack holds" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert supervision.read(settings) is None
