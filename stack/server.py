"""The shape every local server shares: prepare once, launch detached, wait for health, stop."""

from __future__ import annotations

import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from stack import process
from stack.config import StackSettings
from stack.errors import StackError

MARKER = "AGENTLOG_STACK_PROCESS"  # environment entry naming the data dir, for processes whose argv lacks it


@dataclass(frozen=True)
class ServerStatus:
    """One row of `agentlog stack status` (`--json` prints these fields as they are).

    `health` is healthy, unhealthy, stopped, restarting or "port taken by another process";
    `detail` says why in a few words. The supervised processes (relay, projections, api, ...)
    also carry their restart count, last exit code and last start time (ISO 8601, UTC); the
    servers, which the supervisor does not restart, have `restarts` None.
    """

    name: str
    address: str
    pid: int | None
    version: str
    health: str
    restarts: int | None = None
    last_exit: int | None = None
    last_start: str | None = None
    detail: str = ""


class Server(ABC):
    """A private server instance owned by this stack (its data, log and pid file live under home)."""

    name: str
    stop_signal = signal.SIGTERM
    user: str | None = None

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def more_ports(self) -> dict[str, int]:
        """Further ports the server binds, by the setting that names them (e.g. KAFKA_CONTROLLER)."""
        return {}

    @property
    def port_settings(self) -> dict[str, int]:
        """Every port it binds, by the setting that moves it (AGENTLOG_<SETTING>_PORT)."""
        return {self.name: self.port, **self.more_ports}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.settings.data / self.name

    @property
    def log_file(self) -> Path:
        return self.settings.logs / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.settings.run / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid of the instance this stack started, if it is still running."""
        return process.tracked_pid(self.pid_file, str(self.data_dir), MARKER)

    def prepare(self) -> None:
        """Fetch, install and initialise what the server needs; cheap when already done."""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground; it must mention data_dir."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when the server answers a real request."""

    @abstractmethod
    def version(self) -> str:
        """The version the running server reports."""

    def environment(self) -> dict[str, str]:
        """Extra environment for the process."""
        return {}

    def after_ready(self) -> None:
        """Work that needs the running server (databases, defaults); idempotent."""

    def launch(self) -> bool:
        """Start the server unless ours already runs; False when an existing one is reused."""
        if self.pid() is not None:
            return False
        self.start()
        return True

    def start(self) -> subprocess.Popen[bytes]:
        """Start a new instance now (its ports must be free) and return the child process."""
        for setting, port in self.port_settings.items():
            if port and process.port_open(port):
                raise StackError(
                    f"port {port} for {setting.lower().replace('_', ' ')} is taken by another process",
                    f"stop that process or set AGENTLOG_{setting.upper()}_PORT to a free port",
                )
        self.prepare()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.user:
            self.log_file.touch()
            process.chown(self.log_file, self.user)
        return process.start(
            self.command(),
            self.log_file,
            self.pid_file,
            user=self.user,
            cwd=self.data_dir,
            env={MARKER: str(self.data_dir), **self.environment()},
        )

    def wait_ready(self) -> None:
        """Block until healthy, or raise StackError quoting the log."""
        pid = self._launched_pid()
        process.wait_until(
            self.healthy, what=self.name, pid=pid, log=self.log_file, timeout=self.settings.ready_timeout
        )
        self.after_ready()

    def _launched_pid(self, grace: float = 2.0) -> int:
        """Our instance's pid; one launched a moment ago gets `grace` seconds to be found (once, right after
        a relaunch in the suite, the lookup found no process although the server came up and ran)."""
        deadline = time.monotonic() + grace
        while (pid := self.pid()) is None:
            if time.monotonic() >= deadline:
                raise StackError(f"{self.name} is not running", "run `agentlog stack up`")
            time.sleep(0.05)
        return pid

    def stop(self) -> bool:
        """Stop the instance this stack started; False when none was running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        process.terminate(pid, self.stop_signal)
        return True

    def status(self) -> ServerStatus:
        pid = self.pid()
        if pid is None:
            foreign = process.port_open(self.port)
            return ServerStatus(
                self.name, self.address, None, "-", "port taken by another process" if foreign else "stopped"
            )
        try:
            health, detail = self.assess()
            version = self.version() if health in ("healthy", "degraded") else "-"
        except Exception as e:  # noqa: BLE001 - status reports any failure as unhealthy
            health, detail, version = "unhealthy", "", f"- ({type(e).__name__})"
        return ServerStatus(self.name, self.address, pid, version, health, detail=detail)

    def assess(self) -> tuple[str, str]:
        """The running instance's health word and a few words of detail.

        The one place a process may say more than up or down: a check of progress (events and
        seconds behind the store head, `degraded` when alive but not progressing) belongs here.
        """
        return ("healthy", "") if self.healthy() else ("unhealthy", "")
