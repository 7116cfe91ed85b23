"""The whole suite, as `./dev test` runs it: everything but the fault tier, then the fault tier.

Most tests own their names (schemas, topics, subjects, key prefixes), so they run on several pytest-xdist
workers at once against the same servers, a module at a time (`ModuleScheduling`): a module's tests run on
one worker, in order, so its module-scoped world (an API, workers, a private stack) is set up once, and the
pact modules all run on one worker in turn (the consumer tests rewrite the pact files the verifiers read).
The parts, in order: every test not in the fault tier, on the workers (the cluster tier's views on a Redis
Cluster among them, on one worker); the fault tests that kill processes of their own (the supervisor's
stack, a relay, a conversation worker), on the workers; then, alone, those marked `serial`: first those that
restart a server the others share (`tests/faults` among them), then the kills and restarts of the cluster tier
(`tests/cluster/`: a three-node Kafka with a leader killed, relays and projections processes killed, a Redis
Cluster master restarted). `just test-cluster` runs the whole cluster tier by itself. Before any part, the
Debian tools the tests use are installed (`tests/support/debian.py`), so an install never runs beside tests.
Coverage from all parts is combined and held to the gate (`fail_under` in pyproject.toml). In the native mode
the servers are started once for every part, and those this run started are stopped at its end (unless
AGENTLOG_KEEP_STACK is set). Each part's time is printed at the end.

`python -m tests.support.suite [--workers N]`; the exit code is the first failing part's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

from tests.support.debian import install_all
from tests.support.servers import mode, native

PYTEST = [sys.executable, "-m", "pytest"]
# The modules that write or read contracts/pacts/: one scope, so they never run at the same time.
PACT_MODULES = frozenset(
    f"tests/contract/{name}.py"
    for name in ("test_client_pact", "test_message_pacts", "test_http_pact_verify", "test_message_pact_verification",
                 "test_can_i_deploy", "test_openai_pact")
)  # fmt: skip

# The views on a Redis Cluster: one scope, so one worker starts the cluster and an API on it (a session's fixtures).
CLUSTER_VIEWS = "tests/cluster/views/"


class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """`--dist loadfile` as the suite needs it: a scope per module, the pact modules one scope together, the
    views on a Redis Cluster another.

    (pytest-xdist's own `loadgroup` does not group under pytest 9: it renames `item._nodeid`, which pytest 9
    no longer reads, so `xdist_group` marks have no effect.)
    """

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        if module in PACT_MODULES:
            return "pacts"
        return CLUSTER_VIEWS if module.startswith(CLUSTER_VIEWS) else module


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.suite", description=__doc__.splitlines()[0])
    # one worker more than the cores: on 2 cores 3 workers ran the tests not marked serial in 6:22-6:49 and
    # 730-786 CPU-s, 4 in 7:42 and 908 (contention made every process costlier), 2 in 7:43 with the cores idle at times
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("AGENTLOG_TEST_WORKERS", cores + 1)))
    workers = parser.parse_args().workers
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))  # a crashed part leaves a core (soft limit often 0)
    install_all()
    spread = ("-n", str(workers), "--dist", "loadfile")
    times: list[tuple[str, float]] = []
    with native() if mode() == "native" else nullcontext():
        parts = (
            _part(times, "everything but the fault tier", "not faults", *spread, "--cov", "--cov-report=",
                  "--cov-fail-under=0", "--durations=15"),
            _part(times, "the fault tier's kills of processes of its own", "faults and not serial", *spread, "--cov",
                  "--cov-append", "--cov-report=", "--cov-fail-under=0", "--durations=5"),
            _part(times, "the fault tier's restarts of shared servers", "serial and not cluster", "--cov",
                  "--cov-append", "--cov-report=", "--cov-fail-under=0"),
            _part(times, "the cluster tier's kills and restarts", "serial and cluster", "tests/cluster", "--cov",
                  "--cov-append", "--cov-report=term-missing:skip-covered", "--durations=10"),
        )  # fmt: skip
    for name, seconds in times:
        print(f"{name}: {int(seconds // 60)}:{seconds % 60:04.1f}")
    return next((code for code in parts if code), 0)


def _part(times: list[tuple[str, float]], name: str, marks: str, *options: str) -> int:
    """Run pytest on the tests `marks` selects, adding its wall time to `times`; its exit code, 128 + N (as a
    shell says it) when signal N ended it, which is named, as pytest cannot say it itself, with each thread's
    native stack when gdb is at hand (the cluster tier once died of SIGSEGV without a word from Python's
    faulthandler)."""
    print(f"· {name}", flush=True)
    started = time.monotonic()
    core = Path("core")  # where the kernel writes it here (kernel.core_pattern "core": the process's directory)
    core.unlink(missing_ok=True)
    code = subprocess.run([*PYTEST, "-m", marks, *options], check=False).returncode
    times.append((name, time.monotonic() - started))
    if code >= 0:
        return code
    print(f"error: the suite's {name} died of {signal.Signals(-code).name}", file=sys.stderr, flush=True)
    if core.exists() and (gdb := shutil.which("gdb")):
        stacks = ["-ex", "thread apply all bt 25", "-ex", "thread apply all py-bt"]  # py-bt: CPython's gdb script
        where = [gdb, "-batch", "-nx", "-iex", "set auto-load safe-path /", *stacks, sys.executable, str(core)]
        subprocess.run(where, stdout=sys.stderr, check=False, timeout=300)
        core.unlink()
    return 128 - code


if __name__ == "__main__":
    sys.exit(main())
