"""Process helpers: spawn a server in its own session, track it by pid file, wait, stop."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from observability.processes import alive
from stack.errors import StackError

__all__ = ["alive"]  # where the launcher and its tests have always called it (`process.alive`)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def cmdline(pid: int) -> str:
    """The process's command line joined by spaces, or "" when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def tracked_pid(pid_file: Path, marker: str, env_name: str = "") -> int | None:
    """The pid recorded in pid_file if that process still runs and carries marker.

    The marker (a path unique to this stack) is looked for in the command line, or in the
    environment entry `env_name`; it keeps `down` from touching a recycled pid.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    return pid if marker in cmdline(pid) or (env_name and f"{env_name}={marker}" in environ(pid)) else None


def environ(pid: int) -> str:
    """The process's environment as NUL-separated text, or "" when unreadable."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def exclusive(lock_file: Path, *, wait: bool = True, holder: str = "another process") -> Iterator[None]:
    """Hold an exclusive lock on lock_file (released when the holder exits, even by SIGKILL).

    With wait=False, raise StackError naming the `holder` at once when the lock is taken.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StackError(f"{holder} holds {lock_file}", "stop it first (`agentlog stack down`)") from None
        yield


def spawn(
    argv: list[str],
    log: Path,
    pid_file: Path,
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start argv detached from our terminal, output appended to log; record and return its pid."""
    return start(argv, log, pid_file, user=user, env=env, cwd=cwd).pid


def start(
    argv: list[str],
    log: Path,
    pid_file: Path,
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Like spawn, but return the child itself, so its parent (the supervisor) can read its exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    _exec_settled(proc.pid)
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def _exec_settled(pid: int, timeout: float = 2.0) -> None:
    """Wait until the child's new command line is readable, so it can be tracked at once.

    Popen returns when exec closes the child's close-on-exec pipe, a moment before the kernel
    fills in the new arguments: /proc/PID/cmdline (and environ) read empty in between (about one
    spawn in a hundred on a busy machine), and the marker check would miss the process.
    """
    deadline = time.monotonic() + timeout
    while not cmdline(pid) and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.001)


def terminate(pid: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Ask the process to stop with sig; kill it if it has not gone after timeout seconds."""
    try:
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def last_lines(log: Path, count: int = 20) -> list[str]:
    """The last count lines of a log file ([] when there is none)."""
    try:
        with log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return f.read().decode(errors="replace").splitlines()[-count:]
    except OSError:
        return []


_CAUSE = re.compile(r"Caused by|ERROR|FATAL|Exception|[Ee]rror:")


def cause_line(lines: list[str]) -> str:
    """The line of a failed start-up log most likely to name the cause (Java's last "Caused by")."""
    flagged = [line for line in lines if _CAUSE.search(line)]
    caused = [line for line in flagged if "Caused by" in line]
    pick = (caused or flagged or [line for line in lines if line.strip()] or ["no output"])[-1]
    return pick.strip()


def wait_until(ready: Callable[[], bool], *, what: str, pid: int, log: Path, timeout: float) -> None:
    """Poll ready() until it holds; fail early, quoting the log, if the process dies first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive(pid):
            _reap(pid)
            tail = cause_line(last_lines(log, 200))
            raise StackError(f"{what} exited during start-up: {tail.strip()[:300]}", f"see {log} for the whole log")
        if time.monotonic() > deadline:
            raise StackError(
                f"{what} was not ready after {timeout:.0f} s",
                f"see {log}; raise AGENTLOG_READY_TIMEOUT if the machine is slow",
            )
        time.sleep(0.2)


def chown(path: Path, user: str) -> None:
    """Give path to user (the private Postgres runs as `postgres`, which refuses root)."""
    shutil.chown(path, user=user, group=user)
