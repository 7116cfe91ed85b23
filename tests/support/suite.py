"""The whole suite, as `./dev test` runs it: the parallel part, then the tests that restart shared servers.

Most tests own their names (schemas, topics, subjects, key prefixes), so they run on several pytest-xdist
workers at once against the same servers, a module at a time (`ModuleScheduling`): a module's tests run on
one worker, in order, so its module-scoped world (an API, workers, a private stack) is set up once, and the
pact modules all run on one worker in turn (the consumer tests rewrite the pact files the verifiers read).
Those marked `serial` need the machine to themselves, so they run alone afterwards: first those that restart
a server the others share (the fault tier among them), then the kills and restarts of the cluster tier
(`tests/cluster/`, marked `cluster`: a three-node Kafka with a leader killed, relays and projections processes
killed, a Redis Cluster master restarted); the cluster tier's views on a Redis Cluster run in the parallel part,
on one worker (`just test-cluster` runs the whole tier by itself). Coverage from all parts is combined and held
to the gate (`fail_under` in pyproject.toml). In the native mode the servers are started once for every part,
and those this run started are stopped at its end (unless AGENTLOG_KEEP_STACK is set).

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
from contextlib import nullcontext
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

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
    # one worker more than the cores: on 2 cores 3 workers ran the parallel part in 6:22-6:49 and 730-786 CPU-s,
    # 4 in 7:42 and 908 CPU-s (contention made every process costlier), 2 in 7:43 with the cores idle at times
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("AGENTLOG_TEST_WORKERS", cores + 1)))
    workers = parser.parse_args().workers
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))  # a crashed part leaves a core (soft limit often 0)
    with native() if mode() == "native" else nullcontext():
        parallel = _part("parallel part", "not serial", "-n", str(workers), "--dist", "loadfile",
                         "--cov", "--cov-report=", "--cov-fail-under=0", "--durations=15")  # fmt: skip
        alone = _part("serial part", "serial and not cluster", "--cov", "--cov-append", "--cov-report=",
                      "--cov-fail-under=0")  # fmt: skip
        clusters = _part("cluster tier's serial tests", "serial and cluster", "tests/cluster", "--cov", "--cov-append",
                         "--cov-report=term-missing:skip-covered", "--durations=10")  # fmt: skip
    return parallel or alone or clusters


def _part(name: str, marks: str, *options: str) -> int:
    """Run pytest on the tests `marks` selects; its exit code, 128 + N (as a shell says it) when signal N ended it,
    which is named, as pytest cannot say it itself, with each thread's native stack when gdb is at hand (the cluster
    tier once died of SIGSEGV without a word from Python's faulthandler)."""
    core = Path("core")  # where the kernel writes it here (kernel.core_pattern "core": the process's directory)
    core.unlink(missing_ok=True)
    code = subprocess.run([*PYTEST, "-m", marks, *options], check=False).returncode
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
