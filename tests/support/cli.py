"""Run the real `agentlog` command: in this process, through its typer app as the console script calls it,
or in a child process, as a user would.

In process is the default: a command's own work is what most tests check, and a child spends 0.3-0.9 CPU-seconds
(1.6 with both cores busy, under coverage) starting Python and importing before it does any (docs/testing.md).
`agentlog_process` runs the installed console script, for what only a process shows: what C libraries write to its
stderr, a real exit status, and commands that fork, supervise or run until stopped.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import structlog
from typer.testing import CliRunner, Result

from cli.main import app

AGENTLOG = Path(sys.executable).with_name("agentlog")


def _overrides(env: dict[str, str] | None) -> dict[str, str | None]:
    """This environment's AGENTLOG_* settings removed (None), env's variables set."""
    return {key: None for key in os.environ if key.startswith("AGENTLOG_")} | (env or {})


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment minus AGENTLOG_* settings, plus env (the rest is kept so coverage follows)."""
    return {key: value for key, value in (dict(os.environ) | _overrides(env)).items() if value is not None}


def agentlog_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`agentlog ARGS` in a child process with this environment minus AGENTLOG_* settings, plus env."""
    return subprocess.run(
        [str(AGENTLOG), *args], env=child_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def agentlog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`agentlog ARGS` in this process, with this environment minus AGENTLOG_* settings, plus env, while it runs.

    The result holds what a process would print: an uncaught exception's traceback on stderr, with exit code 1. It
    runs on a thread of its own, as a process has its own main thread (commands call asyncio.run; async tests have a
    loop running), and the logging set-up it makes is undone after it (in-process servers of other tests log on)."""
    runner, results = CliRunner(env=_overrides(env)), list[Result]()
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    thread = threading.Thread(target=lambda: results.append(runner.invoke(app, list(args), prog_name="agentlog")))
    try:
        thread.start()
        thread.join()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)
    (result,) = results
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["agentlog", *args], result.exit_code, result.stdout, stderr)
