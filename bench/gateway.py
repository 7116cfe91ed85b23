"""Gateway benchmark: POST /v1/session/message against a real `agentlog api`, driven by `hey` (Go).

Per concurrency level: N requests, requests/s, p50/p99 latency, and a check that every
accepted (202) request's events are in the event store.

`--tracing`: the cost of OpenTelemetry. Two APIs on the same schema, one with AGENTLOG_TRACING on (spans
into the Redis span store) and one with it off, get the same load in alternating rounds (the order flips
each round); each figure of the traced API is recorded with the untraced one as its peer.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import asyncpg
import httpx
import typer

from api.tenants import Tenants
from bench.append import fresh_schema, ready_codec
from bench.common import Result, endpoints, out, write_results
from stack import Endpoints
from stack.config import StackSettings

SCHEMA = "bench_gateway"
HEY = "github.com/rakyll/hey@v0.1.5"
BODY = '{"message": "What changed in the Q3 report since last week?", "metadata": {"client": "bench"}}'


def hey_binary() -> Path:
    """The `hey` load generator, built once from the Go module proxy into the agentlog cache."""
    target = StackSettings().cache / "bin"
    binary = target / "hey"
    if not binary.exists():
        go = shutil.which("go") or "/usr/local/go/bin/go"
        with out.status(f"building {HEY} (once)"):
            subprocess.run([go, "install", HEY], env={**os.environ, "GOBIN": str(target)}, check=True)
    return binary


async def make_key(dsn: str) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": SCHEMA})
    try:
        tenants = Tenants(pool)
        await tenants.create("bench")
        return (await tenants.add_key("bench", []))[1]
    finally:
        await pool.close()


@contextmanager
def api_server(servers: Endpoints, port: int, workers: int, log: Path, **extra: str) -> Iterator[str]:
    """`agentlog api` on the bench schema (with `extra` settings), until the block ends."""
    env = {**os.environ, **servers.as_env(), "AGENTLOG_DB_SCHEMA": SCHEMA, "AGENTLOG_API_PORT": str(port)}
    env["AGENTLOG_API_WORKERS"] = str(workers)
    env.update(extra)
    agentlog = Path(sys.executable).with_name("agentlog")
    with log.open("w") as sink:
        child = subprocess.Popen([str(agentlog), "api"], env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not start; see {log}")
            time.sleep(0.2)
        yield url
    finally:
        child.terminate()
        child.wait(30)


def load(hey: Path, url: str, key: str, requests: int, concurrency: int) -> tuple[list[tuple[float, int]], float]:
    """Run hey: (latency in s, status) of every request, and the seconds from the first start to the last end."""
    shape = ["-n", str(requests), "-c", str(concurrency), "-m", "POST", "-T", "application/json"]
    done = subprocess.run(
        [str(hey), *shape, "-H", f"X-API-Key: {key}", "-d", BODY, "-o", "csv", f"{url}/v1/session/message"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = list(csv.DictReader(done.stdout.splitlines()))
    span = max(float(r["offset"]) + float(r["response-time"]) for r in rows)
    return [(float(r["response-time"]), int(r["status-code"])) for r in rows], span


async def stored_messages(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM events WHERE event_type = 'agentlog.session.MessagePosted'")
        )
    finally:
        await conn.close()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(
    requests: Annotated[int, typer.Option(help="requests per concurrency level")] = 10_000,
    concurrency: Annotated[
        str, typer.Option(help="comma-separated concurrency levels (hey sends requests // c per connection)")
    ] = "10,50,100",
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 2,
    port: Annotated[int, typer.Option(help="port for the benchmarked API")] = 18999,
    tracing: Annotated[bool, typer.Option(help="tracing on against tracing off, interleaved (see the module)")] = False,
    rounds: Annotated[int, typer.Option(help="with --tracing: rounds per concurrency level, each side once")] = 3,
) -> None:
    """Requests/s and p50/p99 latency of POST /v1/session/message, and every accepted request stored."""
    if tracing:
        traced(requests, [int(c) for c in concurrency.split(",")], workers, port, rounds)
        return
    servers = endpoints()
    ready_codec(servers.schema_registry_url)
    fresh_schema(servers.postgres_dsn, SCHEMA)
    key = asyncio.run(make_key(servers.postgres_dsn))
    hey, levels, results = hey_binary(), [int(c) for c in concurrency.split(",")], []
    log = StackSettings().logs / "bench-gateway-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with api_server(servers, port, workers, log) as url:
        load(hey, url, key, min(1000, requests), 16)  # warm-up: connections, caches, JIT-free but pools
        before = asyncio.run(stored_messages(servers.postgres_dsn))
        for c in levels:
            out.print(f"[dim]{requests} requests at concurrency {c}[/dim]")
            rows, seconds = load(hey, url, key, requests, c)
            accepted = [t for t, status in rows if status == 202]
            stored = asyncio.run(stored_messages(servers.postgres_dsn)) - before
            before += stored
            codes = Counter(status for _, status in rows)
            params: dict[str, object] = {"requests": len(rows), "concurrency": c, "workers": workers}
            params["accepted"] = len(accepted)
            params |= {"statuses": dict(sorted(codes.items()))}
            params |= {"stored": stored, "all_accepted_stored": stored == len(accepted)}
            results += [
                Result(f"requests/s c={c}", len(rows) / seconds, "requests/s", True, params=params),
                Result(f"p50 c={c}", percentile(accepted, 50) * 1000, "ms", False, params=params),
                Result(f"p99 c={c}", percentile(accepted, 99) * 1000, "ms", False, params=params),
            ]
    write_results("gateway", results)


def traced(requests: int, levels: list[int], workers: int, port: int, rounds: int) -> None:
    """The same load against an API tracing and one not, alternating; results with the untraced API as peer."""
    servers = endpoints()
    ready_codec(servers.schema_registry_url)
    fresh_schema(servers.postgres_dsn, SCHEMA)
    key, hey, results = asyncio.run(make_key(servers.postgres_dsn)), hey_binary(), []
    logs = StackSettings().logs
    logs.mkdir(parents=True, exist_ok=True)
    spans = {"AGENTLOG_REDIS_PREFIX": "bench-gateway:", "AGENTLOG_TRACING_TTL": "600"}
    with (
        api_server(servers, port, workers, logs / "bench-gateway-traced.log", AGENTLOG_TRACING="true", **spans) as on,
        api_server(servers, port + 1, workers, logs / "bench-gateway-untraced.log", AGENTLOG_TRACING="false") as off,
    ):
        for url in (on, off):
            load(hey, url, key, min(1000, requests), 16)  # warm-up
        for c in levels:
            out.print(f"[dim]{rounds} x {requests} requests at concurrency {c}, tracing on and off in turn[/dim]")
            sides: dict[str, list[tuple[float, list[float]]]] = {on: [], off: []}
            for round_ in range(rounds):
                for url in (on, off) if round_ % 2 == 0 else (off, on):
                    rows, seconds = load(hey, url, key, requests, c)
                    sides[url].append((len(rows) / seconds, [t for t, status in rows if status == 202]))
            results += _compared(sides[on], sides[off], {"requests": requests, "concurrency": c, "workers": workers,
                                                         "rounds": rounds})  # fmt: skip
    write_results("gateway", [*_kept(results), *results])


def _kept(results: list[Result]) -> list[Result]:
    """The records of bench/results/gateway.json that `results` do not replace (the plain run's figures)."""
    path = Path(__file__).parent / "results" / "gateway.json"
    new = {r.metric for r in results}
    old = json.loads(path.read_text()) if path.exists() else []
    return [
        Result(r["metric"], r["value"], r["unit"], r["higher_is_better"], r["peer"], r["peer_value"], r["params"])
        for r in old
        if r["metric"] not in new
    ]


def _compared(
    on: list[tuple[float, list[float]]], off: list[tuple[float, list[float]]], params: dict[str, object]
) -> list[Result]:
    """Median requests/s over the rounds, p50/p99 over every accepted request, tracing on vs off."""
    c, peer = params["concurrency"], "tracing off"

    def latencies(side: list[tuple[float, list[float]]]) -> list[float]:
        return [t for _, accepted in side for t in accepted]

    rate_on, rate_off = statistics.median(r for r, _ in on), statistics.median(r for r, _ in off)
    results = [Result(f"requests/s c={c} tracing on", rate_on, "requests/s", True, peer, rate_off, params)]
    for q in (50, 99):
        mine, theirs = percentile(latencies(on), q) * 1000, percentile(latencies(off), q) * 1000
        results.append(Result(f"p{q} c={c} tracing on", mine, "ms", False, peer, theirs, params))
    return results


if __name__ == "__main__":
    typer.run(main)
