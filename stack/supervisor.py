"""The supervisor: runs agentlog's own processes as its children and starts each again when it dies.

One loop polls every child a few times a second. A child that exits (a crash, SIGKILL, an
operator's SIGTERM) is started again after an exponential backoff, and its record in the state
file (`supervision.py`) counts the restart and keeps the exit code. A process already running
when the supervisor starts (after the supervisor itself was restarted) is adopted, not started
twice. On SIGTERM the supervisor stops restarting and exits, leaving its children to `stack down`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stack import process, supervision
from stack.apps import AppProcess, supervised
from stack.config import StackSettings
from stack.errors import StackError

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Delays before starting a process again: base, base * factor, ... never more than cap.

    A process that ran at least `stable_after` seconds before it died counts from the start
    again, so one crash after hours of work waits `base`, while a process that keeps dying at
    start-up waits longer each time. (stamina retries one call in place; the supervisor waits on
    several children in one loop, so here the schedule is a value it asks for, not a loop.)
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    stable_after: float = 30.0
    failures: int = 0

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th quick death in a row (1 for the first)."""
        return float(min(self.cap, self.base * self.factor ** max(0, failures - 1)))

    def after_exit(self, ran_for: float) -> float:
        """Note a death after `ran_for` seconds of running; the wait before the next start."""
        self.failures = 1 if ran_for >= self.stable_after else self.failures + 1
        return self.delay(self.failures)


def describe(code: int | None) -> str:
    """An exit status in words: `exit code 1`, `killed by SIGKILL`, or unknown for an adopted process."""
    if code is None:
        return "exit code unknown (adopted process)"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Child:
    """One supervised process: the running instance (ours or adopted), its backoff and its record."""

    def __init__(self, app: AppProcess, previous: supervision.ProcessRecord | None, backoff: Backoff) -> None:
        self.app, self.backoff = app, backoff
        self.proc: subprocess.Popen[bytes] | None = None
        self.ran_since = time.monotonic()
        self.due: float | None = None  # when to start it next while it is down
        self.ever_started = False
        pid = app.pid()
        if pid is not None and previous is not None and previous.pid == pid:
            self.record = previous.model_copy(update={"detail": "", "fix": ""})
        else:
            self.record = supervision.ProcessRecord(pid=pid)
        if pid is None:
            self.due = self.ran_since  # at once
        else:
            self.ever_started = True
            log.info("%s (pid %d) already runs: adopted", app.name, pid)

    def due_at(self, now: float) -> bool:
        """True when the process is down and its wait is over."""
        return self.record.pid is None and self.due is not None and now >= self.due

    def tick(self, now: float) -> bool:
        """Notice an exit or start the process when due; True when the record changed."""
        if self.record.pid is not None:
            exited, code = self._exited()
            if exited:
                self._down(code, now)
            return exited
        if self.due_at(now):
            self._start(now)
            return True
        return False

    def _exited(self) -> tuple[bool, int | None]:
        if self.proc is not None:
            code = self.proc.poll()
            return code is not None, code
        # adopted: not our child, so its exit code is not ours to read
        return not process.alive(self.record.pid or 0), None

    def _down(self, code: int | None, now: float) -> None:
        wait = self.backoff.after_exit(now - self.ran_since)
        self.due, self.proc = now + wait, None
        self.record = self.record.model_copy(
            update={"pid": None, "last_exit": code, "detail": f"{describe(code)}; next start in {wait:.1f} s"}
        )
        log.warning("%s exited (%s); starting it again in %.1f s", self.app.name, describe(code), wait)

    def prepare_start(self) -> None:
        """Note where the log stands before the start, so the ready line is looked for after it."""
        size = self.app.log_file.stat().st_size if self.app.log_file.exists() else 0
        self.record = self.record.model_copy(update={"log_offset": size})

    def _start(self, now: float) -> None:
        try:
            self.proc = self.app.start()
        except StackError as e:
            wait = self.backoff.after_exit(0.0)
            self.due = now + wait
            self.record = self.record.model_copy(update={"detail": e.cause, "fix": e.fix})
            log.error("%s cannot start: %s (%s); trying again in %.1f s", self.app.name, e.cause, e.fix, wait)
            return
        restarts = self.record.restarts + (1 if self.ever_started else 0)
        self.ever_started, self.due, self.ran_since = True, None, now
        self.record = self.record.model_copy(
            update={
                "pid": self.proc.pid,
                "restarts": restarts,
                "last_start": supervision.now_iso(),
                "detail": "",
                "fix": "",
            }
        )
        log.info("%s started (pid %d, restart %d)", self.app.name, self.proc.pid, restarts)


class Supervisor:
    """Keeps each app running until `stop` is set; writes the state file whenever a record changes."""

    def __init__(
        self,
        settings: StackSettings,
        apps: Sequence[AppProcess],
        *,
        poll: float = 0.2,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.settings, self.poll = settings, poll
        previous = supervision.read(settings)
        known = previous.processes if previous else {}
        self.children = [Child(app, known.get(app.name), backoff()) for app in apps]

    def run(self, stop: threading.Event) -> None:
        self._save()
        log.info("supervising %s", ", ".join(child.app.name for child in self.children))
        while True:
            self.step(time.monotonic())
            if stop.wait(self.poll):
                break
        log.info("supervisor stopped; its processes are left to `agentlog stack down`")

    def step(self, now: float) -> None:
        """Start the children that are due and notice those that exited.

        The log offsets of the children about to start are saved before their pid files are
        written, so a reader who finds a new pid also finds the offset its ready line comes after.
        """
        due = [child for child in self.children if child.due_at(now)]
        for child in due:
            child.prepare_start()
        if due:
            self._save()
        changed = [child.tick(now) for child in self.children]  # every child, not the first that changed
        if any(changed):
            self._save()

    def _save(self) -> None:
        supervision.write(self.settings, {child.app.name: child.record for child in self.children})


def supervise(settings: StackSettings) -> None:
    """Run the supervisor over the SUPERVISED processes in the foreground until SIGTERM or Ctrl-C.

    Raises StackError when another supervisor runs this stack (two would start two of each).
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with process.exclusive(settings.run / "supervisor.lock", wait=False, holder="another supervisor of this stack"):
        Supervisor(settings, supervised(settings)).run(stop)
