"""What every benchmark shares: the servers, interleaved timing against a peer, and the results file."""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stack import Endpoints, Stack, process

RESULTS = Path(__file__).resolve().parent / "results"
ENV = ("POSTGRES_DSN", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")

out = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes: room for the table


def endpoints() -> Endpoints:
    """The servers from the four environment variables when all are set, else the local stack (started)."""
    if all(os.environ.get(name) for name in ENV):
        return Endpoints(**{name.lower(): os.environ[name] for name in ENV})
    stack = Stack()
    with out.status("starting the local servers (reused when running)"):
        started = stack.up(lambda message: out.print(f"[dim]·[/dim] {message}", highlight=False))
    out.print(f"[dim]servers: {'started ' + ', '.join(started) if started else 'already running'}[/dim]")
    return stack.endpoints


@dataclass(frozen=True)
class Result:
    """One measured figure; `peer_value` is the same figure for the peer, measured in the same run."""

    metric: str
    value: float
    unit: str
    higher_is_better: bool
    peer: str | None = None
    peer_value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better we are than the peer (>1 better, <1 worse); None without a peer."""
        if self.peer_value is None or not self.value or not self.peer_value:
            return None
        return self.value / self.peer_value if self.higher_is_better else self.peer_value / self.value

    def as_json(self) -> dict[str, Any]:
        record = asdict(self)
        params = record.pop("params")
        return {**record, "ratio": self.ratio, "params": params}


def interleaved(rounds: int, *runs: Callable[[], float]) -> list[list[float]]:
    """Per-round rates of each run (one list per run, in the order given), run alternately after one warm-up each.

    Each callable runs once and returns its rate (operations/s; `timed` makes one of a batch). The order
    flips every round (`run_order`) so no run always goes first, on a freshly collected heap or a warmer cache, and
    every run's rounds fall in the same minutes as the others' (on a shared machine the disk's speed
    drifts from one minute to the next).
    """
    for run in runs:
        run()
    rates: list[list[float]] = [[] for _ in runs]
    for i in run_order(rounds, len(runs)):
        rates[i].append(runs[i]())
    return rates


def run_order(rounds: int, runs: int) -> Iterator[int]:
    """Which run goes next, round after round: 0..runs-1, then the other way round, and so on."""
    for round_ in range(rounds):
        yield from range(runs) if round_ % 2 == 0 else reversed(range(runs))


def timed(run: Callable[[], int]) -> Callable[[], float]:
    """A rate of a batch: `run` does one batch and returns how many operations it did."""

    def rate() -> float:
        gc.collect()
        began = time.perf_counter()
        done = run()
        return done / (time.perf_counter() - began)

    return rate


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far, every core and process (the first line of /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[str, float]:
    """CPU seconds each kind of process on this machine has used so far: the servers by name, agentlog's processes
    by sub-command (`api`, `relay`, `worker conversation`, ...), this benchmark as `bench`, with the children each
    has reaped (Postgres's ended backends). Two readings give what the work between them cost each kind."""
    tick = os.sysconf("SC_CLK_TCK")
    used: defaultdict[str, float] = defaultdict(float)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        try:
            times = stat.read_text().rsplit(")", 1)[1].split()[11:15]  # utime stime cutime cstime
        except OSError:
            continue  # ended meanwhile
        kind = _kind(pid, process.cmdline(pid))
        if kind:
            used[kind] += sum(map(int, times)) / tick
    return used


def _kind(pid: int, command: str) -> str | None:
    if pid == os.getpid():
        return "bench"
    if "cli.main " in command:  # how the stack runs agentlog's processes: python -m cli.main SUB-COMMAND [OPTIONS]
        return command.split("cli.main ", 1)[1].split(" -", 1)[0].strip()
    if "kafka.Kafka" in command:
        return "kafka"
    if "java" in command:
        return "registry"  # the stack's other JVM
    if "redis-server" in command:
        return "redis"
    if "postgres" in command.split(" ", 1)[0]:  # the postmaster, its backends ("postgres: ...") and helpers
        return "postgres"
    return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def write_results(name: str, results: Sequence[Result]) -> Path:
    """Write bench/results/NAME.json (a list of result records) and print the same as a table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
    table = Table(title=f"bench {name}")
    for column in ("metric", "value", "unit", "peer", "peer value", "ratio"):
        table.add_column(column, justify="right" if "value" in column or column == "ratio" else "left", no_wrap=True)
    table.add_column("params", overflow="fold")
    for r in results:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
        peer_value = "" if r.peer_value is None else _number(r.peer_value)
        params = " ".join(f"{k}={v}" for k, v in r.params.items())
        table.add_row(r.metric, _number(r.value), r.unit, r.peer or "", peer_value, ratio, params)
    out.print(table)
    out.print(f"[dim]wrote {path}[/dim]")
    return path


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
