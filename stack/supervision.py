"""The supervisor's state file: each supervised process's pid, restart count, last exit and start."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from stack.config import StackSettings


class ProcessRecord(BaseModel):
    """What the supervisor knows of one process; `stack status` shows it beside the live checks.

    `log_offset` is the size of the process's log when its current instance started: the ready
    line is looked for after it, so a restarted process is not taken as ready on its previous
    instance's line. `detail` and `fix` say why it is down (a start that failed, the wait before
    the next start); both are empty while it runs.
    """

    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    last_start: str | None = None
    log_offset: int = 0
    detail: str = ""
    fix: str = ""


class SupervisorState(BaseModel):
    """The whole file: which supervisor wrote it, when, and a record per process name."""

    pid: int
    updated: str
    processes: dict[str, ProcessRecord]


def path(settings: StackSettings) -> Path:
    return settings.run / "supervisor.json"


def now_iso() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read(settings: StackSettings) -> SupervisorState | None:
    """The last state written, or None when there is none (or it cannot be read)."""
    try:
        return SupervisorState.model_validate_json(path(settings).read_bytes())
    except (OSError, ValidationError):
        return None


def write(settings: StackSettings, processes: dict[str, ProcessRecord]) -> None:
    """Replace the file atomically, so a reader sees the old state or the new one, never half."""
    state = SupervisorState(pid=os.getpid(), updated=now_iso(), processes=processes)
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".json.tmp")
    scratch.write_text(state.model_dump_json(indent=2))
    os.replace(scratch, target)
