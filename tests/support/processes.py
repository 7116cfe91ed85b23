"""agentlog's own processes as child OS processes of a test (`agentlog api`, `relay`, `worker ...`), and polling."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from observability.http import tls
from tests.support.cli import AGENTLOG, child_env

T = TypeVar("T")


def until(check: Callable[[], T | None], what: str, timeout: float = 60.0, every: float = 0.2) -> T:
    """The first truthy answer of `check`, polled every `every` s; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (503 counts: it runs, a dependency is down)."""
    try:
        return httpx.get(url, timeout=2, verify=tls()).status_code in (200, 503)
    except httpx.TransportError:
        return False


class Processes:
    """Child `agentlog` processes, each stopped with SIGTERM (then killed) by `stop` or `stop_all`.

    Each runs with `env` (plus its own extra settings) and none of the test's AGENTLOG_* variables.
    Their output goes to files `<logs>/<name>.out` and `.err`: a pipe nobody reads fills up and stops a
    chatty process mid-write. Starting a name again appends to its files.
    """

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: dict[str, subprocess.Popen[str]] = {}
        self.settings: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
        self.started_at: dict[str, int] = {}  # where the current instance's stdout begins in its file

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        """`agentlog ARGS` as process `name`, with `extra` environment settings on top of `env`."""
        stdout = self.logs / f"{name}.out"
        self.started_at[name] = stdout.stat().st_size if stdout.exists() else 0
        with (self.logs / f"{name}.out").open("a") as out, (self.logs / f"{name}.err").open("a") as err:
            child = subprocess.Popen(
                [str(AGENTLOG), *args], env=child_env({**self.env, **extra}), stdout=out, stderr=err, text=True
            )
        self.children[name] = child
        self.settings[name] = (args, extra)
        return child

    def restart(self, name: str) -> subprocess.Popen[str]:
        """Start `name` again with the arguments and settings it was last started with."""
        args, extra = self.settings[name]
        return self.start(name, *args, **extra)

    def output(self, name: str) -> tuple[str, str]:
        """What `name` wrote so far: (stdout, stderr)."""
        out, err = ((self.logs / f"{name}.{kind}").read_text() for kind in ("out", "err"))
        return out, err

    def ready(self, name: str, line: str, timeout: float = 60.0) -> None:
        """Wait until the running instance of `name` printed `line`; fails with its output when it exits
        or stays silent."""

        def printed() -> bool:
            if self.children[name].poll() is not None:
                raise AssertionError(f"{name} exited: {self.output(name)}")
            out = (self.logs / f"{name}.out").read_bytes()[self.started_at[name] :]
            return line in out.decode(errors="replace")

        until(printed, f"{name} printing {line!r}", timeout)

    def kill(self, name: str) -> None:
        """SIGKILL `name`, as a crash would end it."""
        child = self.children.pop(name)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    def stop(self, name: str) -> tuple[int, str, str]:
        """SIGTERM `name` (SIGKILL after 30 s); its exit code and output."""
        child = self.children.pop(name)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
        return child.returncode, *self.output(name)

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)
