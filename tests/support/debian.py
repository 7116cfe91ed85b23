"""The Debian tools the tests (and the console benchmark) use besides the servers: each is installed with
apt-get on first use, and the suite installs them all before it runs a test, so an install never competes
with running tests for the cores (a fresh machine's Chromium took 40-60 s inside the console's first test)."""

from __future__ import annotations

import sys
from pathlib import Path

from stack.errors import StackError
from stack.install import require_binary

CHROMIUM = ("/usr/bin/chromium", "chromium")  # the console's browser: Playwright's own download is not reachable
PROMTOOL = ("/usr/bin/promtool", "prometheus")  # checks the alert rules; the service is neither needed nor started


def debian_tool(binary: tuple[str, str]) -> Path:
    """The tool's path, installing its Debian package first if it is missing."""
    return require_binary(*binary)


def install_all() -> None:
    """Install whichever is missing, saying so; one that cannot be installed is named (its tests then fail)."""
    for path, package in (CHROMIUM, PROMTOOL):
        if not Path(path).exists():
            print(f"· installing Debian's {package} for the tests", flush=True)
        try:
            require_binary(path, package)
        except StackError as e:
            print(f"error: {e.cause} ({e.fix})", file=sys.stderr, flush=True)
