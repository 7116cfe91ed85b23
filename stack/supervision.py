"""The supervisor's state file: each supervised process's pid, restart count, last exit and start (the records:
observability/processes.py, which the API reads too)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from observability.processes import ProcessRecord, SupervisorState, read_state
from stack.config import StackSettings

__all__ = ["ProcessRecord", "SupervisorState", "now_iso", "path", "read", "write"]


def path(settings: StackSettings) -> Path:
    return settings.run / "supervisor.json"


def now_iso() -> str:
    """The current time as ISO 8601 in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read(settings: StackSettings) -> SupervisorState | None:
    """The last state written, or None when there is none (or it cannot be read)."""
    return read_state(path(settings))


def write(settings: StackSettings, processes: dict[str, ProcessRecord]) -> None:
    """Replace the file atomically, so a reader sees the old state or the new one, never half."""
    state = SupervisorState(pid=os.getpid(), updated=now_iso(), processes=processes)
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".json.tmp")
    scratch.write_text(state.model_dump_json(indent=2))
    os.replace(scratch, target)
