"""The supervisor's state file, as the supervisor writes it and the API reads it: each process's pid and restarts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ValidationError


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

    def up(self) -> bool:
        """Whether its recorded process runs (on this machine: the supervisor's)."""
        return self.pid is not None and alive(self.pid)


class SupervisorState(BaseModel):
    """The whole file: which supervisor wrote it, when, and a record per process name."""

    pid: int
    updated: str
    processes: dict[str, ProcessRecord]


def alive(pid: int) -> bool:
    """True while the process exists on this machine and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def read_state(path: Path) -> SupervisorState | None:
    """The last state written to `path`, or None when there is none (or it cannot be read)."""
    try:
        return SupervisorState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
