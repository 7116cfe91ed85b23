"""The whole suite, as `./dev test` runs it: the parallel part, then the tests that restart shared servers.

Most tests own their names (schemas, topics, subjects, key prefixes), so they run on several pytest-xdist
workers at once against the same servers. Those marked `serial` restart or kill a server the others
share, so they run alone afterwards. Coverage from both parts is combined and held to the gate
(`fail_under` in pyproject.toml). In the native mode the servers are started once for both parts, and
those this run started are stopped at its end (unless AGENTLOG_KEEP_STACK is set).

`python -m tests.support.suite [--workers N]`; the exit code is the first failing part's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from contextlib import nullcontext

import pytest

from tests.support.servers import mode, native

PYTEST = [sys.executable, "-m", "pytest"]
# The pact modules run in turn on one worker (--dist loadgroup): the consumer tests rewrite the pact files that
# the verifiers (and the can-i-deploy gate) read.
PACT_FILES = pytest.mark.xdist_group("pacts")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("AGENTLOG_TEST_WORKERS", "4")))
    workers = parser.parse_args().workers
    with native() if mode() == "native" else nullcontext():
        parallel = subprocess.run(
            [*PYTEST, "-m", "not serial", "-n", str(workers), "--dist", "loadgroup", "--cov", "--cov-report=",
             "--cov-fail-under=0", "--durations=15"],
            check=False,
        )  # fmt: skip
        alone = subprocess.run(
            [*PYTEST, "-m", "serial", "--cov", "--cov-append", "--cov-report=term-missing:skip-covered"], check=False
        )
    return parallel.returncode or alone.returncode


if __name__ == "__main__":
    sys.exit(main())
