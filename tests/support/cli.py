"""Run the real `agentlog` command in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AGENTLOG = Path(sys.executable).with_name("agentlog")


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment minus AGENTLOG_* settings, plus env (the rest is kept so coverage follows)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("AGENTLOG_")}
    return {**base, **(env or {})}


def agentlog(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`agentlog ARGS` with this environment minus AGENTLOG_* settings, plus env."""
    return subprocess.run(
        [str(AGENTLOG), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
