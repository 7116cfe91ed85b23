"""Conversation benchmark: turns through the running stack (API + conversation worker) next to LangGraph.

The peer is a one-node LangGraph graph on a deterministic fake chat model from langchain-core,
persisted by `AsyncPostgresSaver` in its own schema of the same Postgres. Measured: turns/s at
1 and 32 concurrent conversations, reply latency at a steady rate, storage after N turns.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import asyncpg
import httpx
import typer

from bench.chat import Chat, Ours, Peer
from bench.common import Result, busy_cpu_seconds, cpu_by_process, endpoints, median, out, run_order, write_results
from stack import Endpoints
from stack.config import StackSettings

PEER = "langgraph"
PEER_SCHEMA = "bench_langgraph"
SCRIPT = (
    "What changed in the quarterly report?",
    "Summarise the open items for me, please.",
    "Who owns the migration plan?",
    "Thanks, that helps.",
)


def say(index: int) -> str:
    """The scripted user message number `index` (the same on both sides)."""
    return SCRIPT[index % len(SCRIPT)]


def make_tenant(servers: Endpoints) -> tuple[str, str]:
    """A fresh tenant and an admin key for it, made with the CLI in the servers' database."""
    agentlog = str(Path(sys.executable).with_name("agentlog"))
    tenant = f"bench-conv-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **servers.as_env()}  # the CLI's own default is the default port's database
    subprocess.run([agentlog, "tenants", "create", tenant], env=env, check=True, capture_output=True)
    add = [agentlog, "tenants", "keys", "add", tenant, "--scope", "admin"]
    done = subprocess.run(add, env=env, check=True, capture_output=True)
    return tenant, done.stdout.decode().strip().splitlines()[-1]


class Batch(NamedTuple):
    """A timed batch: turns/s, and the machine's busy CPU time per turn (ms; every process, both sides' servers),
    and that of each kind of process (`bench.common.cpu_by_process`; the benchmark itself is the client)."""

    rate: float
    cpu_ms: float
    by_process: dict[str, float]


async def timed_turns(turns: int, run: Awaitable[Any]) -> Batch:
    gc.collect()
    each = cpu_by_process()  # read outside the timed window: reading every process's /proc entry costs CPU too
    began, cpu = time.perf_counter(), busy_cpu_seconds()
    await run
    rate, cpu_ms = turns / (time.perf_counter() - began), (busy_cpu_seconds() - cpu) * 1000 / turns
    used = {kind: seconds - each.get(kind, 0.0) for kind, seconds in cpu_by_process().items()}
    return Batch(rate, cpu_ms, {kind: round(s * 1000 / turns, 2) for kind, s in used.items() if s > 0})


def by_process(batches: list[Batch]) -> dict[str, float]:
    """Each kind of process's median CPU per turn (ms) over the batches, the costliest first."""
    kinds = {kind for batch in batches for kind in batch.by_process}
    each = {kind: median([batch.by_process.get(kind, 0.0) for batch in batches]) for kind in kinds}
    return dict(sorted(each.items(), key=lambda item: -item[1]))


async def batch_ours(ours: Ours, conversations: int, turns: int) -> Batch:
    """`conversations` fresh sessions doing `turns` turns each at once (session setup untimed)."""
    chats = await asyncio.gather(*(ours.open(say(0)) for _ in range(conversations)))
    batch = await timed_turns(conversations * turns, asyncio.gather(*(_turns_ours(chat, turns) for chat in chats)))
    await asyncio.gather(*(chat.close() for chat in chats))
    return batch


async def _turns_ours(chat: Chat, turns: int) -> None:
    for _ in range(turns):
        await chat.turn(say(chat.sent))


async def batch_peer(peer: Peer, conversations: int, turns: int) -> Batch:
    """The same for LangGraph: fresh thread ids, one untimed first turn each."""
    threads = [str(uuid.uuid4()) for _ in range(conversations)]
    await asyncio.gather(*(peer.turn(t, say(0)) for t in threads))
    return await timed_turns(conversations * turns, asyncio.gather(*(_turns_peer(peer, t, turns) for t in threads)))


async def _turns_peer(peer: Peer, thread: str, turns: int) -> None:
    for i in range(1, turns + 1):
        await peer.turn(thread, say(i))


async def throughput(ours: Ours, peer: Peer, conversations: int, turns: int, rounds: int) -> list[Result]:
    """Turns/s and the machine's CPU per turn: interleaved rounds (order flipped each round) after one smaller
    warm-up of each side."""
    await batch_ours(ours, conversations, 2)
    await batch_peer(peer, conversations, 2)
    mine: list[Batch] = []
    theirs: list[Batch] = []
    for i in run_order(rounds, 2):  # interleaved, as bench.common.interleaved runs the other benchmarks
        if i == 0:
            mine.append(await batch_ours(ours, conversations, turns))
        else:
            theirs.append(await batch_peer(peer, conversations, turns))
    for side, batches in (("ours", mine), (PEER, theirs)):
        rates = ", ".join(f"{b.rate:.1f} turns/s at {b.cpu_ms:.1f} ms" for b in batches)
        out.print(f"[dim]{conversations} conversations, {side}: {rates}; CPU ms/turn {by_process(batches)}[/dim]")
    params = {"conversations": conversations, "turns_each": turns, "rounds": rounds}
    return [
        Result(
            f"turns/s, {conversations} conversations",
            median([b.rate for b in mine]),
            "turns/s",
            True,
            PEER,
            median([b.rate for b in theirs]),
            params,
        ),
        Result(
            f"CPU per turn, {conversations} conversations",
            median([b.cpu_ms for b in mine]),
            "ms",
            False,
            PEER,
            median([b.cpu_ms for b in theirs]),
            {
                **params,
                "cores": len(os.sched_getaffinity(0)),
                "by_process_ms": {"agentlog": by_process(mine), PEER: by_process(theirs)},
            },
        ),
    ]


async def paced(ours: Ours, peer: Peer, messages: int, rate: float) -> list[Result]:
    """`messages` turns at `rate`/s over `rate` conversations (one message a second each), ours then peer."""
    chats = await asyncio.gather(*(ours.open(say(0)) for _ in range(max(1, int(rate)))))
    sends: list[tuple[Chat, int, float, float]] = []

    async def one_ours(chat: Chat, text: str) -> None:
        sent = time.perf_counter()
        index = await chat.post(text)
        accepted = time.perf_counter()
        await chat.reply(index)
        sends.append((chat, index, sent, accepted))

    began = time.perf_counter()
    await _schedule(messages, rate, lambda i: one_ours(chats[i % len(chats)], say(i + 1)))
    achieved = messages / (time.perf_counter() - began)
    accepted_ms = [(chat.arrivals[i] - acc) * 1000 for chat, i, _, acc in sends]
    turn_ms = [(chat.arrivals[i] - sent) * 1000 for chat, i, sent, _ in sends]
    failed = sum(chat.failed for chat in chats)
    await asyncio.gather(*(chat.close() for chat in chats))
    threads = [str(uuid.uuid4()) for _ in chats]
    await asyncio.gather(*(peer.turn(t, say(0)) for t in threads))
    peer_ms: list[float] = []

    async def one_peer(thread: str, text: str) -> None:
        sent = time.perf_counter()
        await peer.turn(thread, text)
        peer_ms.append((time.perf_counter() - sent) * 1000)

    began = time.perf_counter()
    await _schedule(messages, rate, lambda i: one_peer(threads[i % len(threads)], say(i + 1)))
    peer_achieved = messages / (time.perf_counter() - began)
    params: dict[str, Any] = {"messages": messages, "rate": rate, "conversations": len(chats)}
    reply = {**params, "visible_in": "SSE /v1/sessions/{id}/stream", "replies_not_answered": failed}
    return [
        Result("accepted -> reply in SSE p50", _pct(accepted_ms, 50), "ms", False, params=reply),
        Result("accepted -> reply in SSE p99", _pct(accepted_ms, 99), "ms", False, params=reply),
        Result("sent -> reply visible p50", _pct(turn_ms, 50), "ms", False, PEER, _pct(peer_ms, 50), reply),
        Result("sent -> reply visible p99", _pct(turn_ms, 99), "ms", False, PEER, _pct(peer_ms, 99), reply),
        Result("paced achieved rate", achieved, "messages/s", True, PEER, peer_achieved, params),
    ]


async def _schedule(count: int, rate: float, start: Any) -> None:
    """Start `start(i)` as its own task at `i / rate` seconds from now; wait for all."""
    began = time.perf_counter()
    tasks = []
    for i in range(count):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start(i)))
    await asyncio.gather(*tasks)


def _pct(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


async def storage(ours: Ours, peer: Peer, db: asyncpg.Connection, marks: list[int], tenant: str) -> list[Result]:
    """Bytes after `marks` turns of one conversation per side: the schema's growth and the rows of it."""
    base_ours, base_peer = await _schema_bytes(db, "public"), await _schema_bytes(db, PEER_SCHEMA)
    chat = await ours.open(say(0))
    thread = str(uuid.uuid4())
    await peer.turn(thread, say(0))
    results: list[Result] = []
    done = 1
    for mark in marks:
        for i in range(done, mark):
            await chat.turn(say(i))
            await peer.turn(thread, say(i))
        done = max(done, mark)
        grown = await _schema_bytes(db, "public") - base_ours, await _schema_bytes(db, PEER_SCHEMA) - base_peer
        rows = await _ours_rows(db, tenant), await _peer_rows(db, thread)
        params = {"turns": mark}
        out.print(f"[dim]{mark} turns: schema growth {grown}, rows {rows}[/dim]")
        results.append(Result(f"storage after {mark} turns", grown[0], "bytes", False, PEER, grown[1], params))
        results.append(Result(f"row bytes after {mark} turns", rows[0], "bytes", False, PEER, rows[1], params))
    await chat.close()
    return results


async def _schema_bytes(db: asyncpg.Connection, schema: str) -> int:
    sql = """SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')"""
    return int(await db.fetchval(sql, schema))


async def _ours_rows(db: asyncpg.Connection, tenant: str) -> int:
    return int(
        await db.fetchval("SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM events e WHERE tenant_id = $1", tenant)
    )


async def _peer_rows(db: asyncpg.Connection, thread: str) -> int:
    total = 0
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        sql = f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {PEER_SCHEMA}.{table} t WHERE thread_id = $1"
        total += int(await db.fetchval(sql, thread))
    return total


async def run(
    concurrency: list[int], turns: int, rounds: int, messages: int, rate: float, marks: list[int]
) -> list[Result]:
    servers = endpoints()
    dsn = servers.postgres_dsn
    api = f"http://127.0.0.1:{StackSettings().api_port}"
    results: list[Result] = []
    db = await asyncpg.connect(dsn)
    await db.execute(f"DROP SCHEMA IF EXISTS {PEER_SCHEMA} CASCADE; CREATE SCHEMA {PEER_SCHEMA}")
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as http:
        tenant, key = make_tenant(servers)
        ours = await Ours.start(http, tenant, key)
        reply = await ours.sample_reply(say(0))
        async with Peer.start(dsn, PEER_SCHEMA, max(concurrency), itertools.cycle([reply])) as peer:
            for conversations in concurrency:
                results += await throughput(ours, peer, conversations, turns, rounds)
            if messages:
                results += await paced(ours, peer, messages, rate)
            storage_tenant, storage_key = make_tenant(servers)
            lone = await Ours.start(http, storage_tenant, storage_key)
            results += await storage(lone, peer, db, marks, storage_tenant)
    await db.close()
    return results


def main(
    concurrency: Annotated[list[int], typer.Option("--conversations", help="concurrent conversations")] = [1, 32],  # noqa: B006
    turns: Annotated[int, typer.Option(help="timed turns of each conversation per batch")] = 10,
    rounds: Annotated[int, typer.Option(help="interleaved rounds per level")] = 3,
    messages: Annotated[int, typer.Option(help="messages of the paced latency run (0: skip)")] = 1000,
    rate: Annotated[float, typer.Option(help="messages/s of the paced run")] = 50.0,
    marks: Annotated[list[int], typer.Option("--storage-turns", help="turns of one conversation")] = [10, 100, 1000],  # noqa: B006
) -> None:
    """Turns/s, reply latency and storage: agentlog's running stack next to LangGraph + Postgres."""
    os.environ.setdefault("AGENTLOG_LOG_LEVEL", "warning")
    results = asyncio.run(run(concurrency, turns, rounds, messages, rate, sorted(marks)))
    write_results("conversation", results)


if __name__ == "__main__":
    typer.run(main)
