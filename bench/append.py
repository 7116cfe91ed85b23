"""Append benchmark: commands per second through agentlog's event store next to `eventsourcing`'s, interleaved.

Each of our figures is also set beside the database's own limit, measured in the same run: pgbench
committing single-row inserts with as many clients as we have writers (bench/pgbench.py).

Ours: the session command services (`domain.session.service`: `domain.service.execute`, i.e.
load, decide, append with the expected version) on a `PostgresEventStore` with the real Avro
codec, asyncio tasks on uvloop (the loop the API and every agentlog process run on) as the concurrent writers. Peer: the
`eventsourcing` library's own PostgreSQL application (psycopg 3, JSON), threads as the writers.
One event per command, on new streams (start a session) and on existing ones (post a message).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit

import psycopg
import typer
import uvloop
from confluent_kafka.schema_registry import SchemaRegistryClient
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql

from bench import pgbench
from bench.codec import TEXT
from bench.common import Result, endpoints, interleaved, median, out, timed, write_results
from contracts.codec import EventCodec
from contracts.registry import check, register
from domain.events import CommandContext
from domain.session import aggregate as session
from domain.session.commands import PostUserMessage, StartSession
from domain.session.events import SessionStarted
from domain.session.service import post_user, start_session
from eventstore.migrate import migrate
from eventstore.store import PostgresEventStore

PEER = "eventsourcing"
OURS_SCHEMA = "bench_ours"
PEER_SCHEMA = "bench_peer"
TENANT = "tenant-acme-prod"
APPENDS_PER_STREAM = 10  # existing mode: each batch spreads its commands so every stream gets about this many
MODES = ("new", "existing")


def ready_codec(registry_url: str) -> EventCodec:
    """A codec on the registry with the default routing, every contract checked, registered and resolved."""
    client = SchemaRegistryClient({"url": registry_url})
    register(client, check(client))
    codec = EventCodec(client)
    codec.resolve()
    return codec


def fresh_schema(dsn: str, schema: str, *, migrated: bool = True) -> None:
    """Drop `schema` with everything in it, then recreate it (with the event store's migrations)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    if migrated:
        migrate(dsn, schema)


def shares(commands: int, writers: int) -> list[int]:
    """How many of `commands` each writer runs: as even as possible, summing to `commands`."""
    return [commands // writers + (w < commands % writers) for w in range(writers)]


def cycle(streams: Sequence[Any], n: int) -> Iterator[Any]:
    """`n` stream ids, round robin over `streams`."""
    return (streams[i % len(streams)] for i in range(n))


def per_writer(streams: Sequence[Any], writers: int) -> list[list[Any]]:
    """Deal the streams out so every writer owns its own (and writers rarely collide)."""
    return [list(streams[w::writers]) for w in range(writers)]


# --- ours: agentlog's PostgresEventStore through domain.service.execute, asyncio tasks ---------------------------


def context() -> CommandContext:
    return CommandContext(tenant_id=TENANT, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


class Ours:
    """agentlog on one event loop: a store whose pool has one connection per writer (at most 64)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, store: PostgresEventStore) -> None:
        self.loop = loop
        self.store = store

    @classmethod
    def connect(cls, loop: asyncio.AbstractEventLoop, dsn: str, codec: EventCodec, writers: int) -> Ours:
        connect = PostgresEventStore.connect(dsn, codec, schema=OURS_SCHEMA, pool_size=min(writers, 64))
        return cls(loop, loop.run_until_complete(connect))

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())

    def new_streams(self, writers: int, commands: int) -> int:
        """One batch: `commands` StartSession commands, each on a new stream, over `writers` tasks."""
        return self.loop.run_until_complete(
            self._gather(self._starter, [[None] * n for n in shares(commands, writers)])
        )

    def existing_streams(self, streams: list[list[uuid.UUID]], commands: int) -> int:
        """One batch: `commands` PostUserMessage commands, writer w cycling over its own streams[w]."""
        work = [list(cycle(own, n)) for own, n in zip(streams, shares(commands, len(streams)), strict=True)]
        return self.loop.run_until_complete(self._gather(self._poster, work))

    async def _gather(self, command: Callable[[Any], Any], work: list[list[Any]]) -> int:
        async def writer(items: list[Any]) -> None:
            for item in items:
                await command(item)

        await asyncio.gather(*(writer(items) for items in work))
        return sum(map(len, work))

    async def _starter(self, _: None) -> None:
        await start_session(self.store, context(), StartSession(session_id=uuid.uuid4(), tenant_id=TENANT))

    async def _poster(self, session_id: uuid.UUID) -> None:
        command = PostUserMessage(session_id=session_id, tenant_id=TENANT, message_id=uuid.uuid4(), text=TEXT)
        await post_user(self.store, context(), command)

    def create_streams(self, count: int) -> list[uuid.UUID]:
        """`count` sessions started directly (untimed setup for the existing-stream batches)."""

        async def create() -> list[uuid.UUID]:
            ids = [uuid.uuid4() for _ in range(count)]
            gate = asyncio.Semaphore(self.store.pool.get_max_size())

            async def one(session_id: uuid.UUID) -> None:
                async with gate:
                    started = SessionStarted(session_id=session_id, tenant_id=TENANT)
                    await self.store.append(session.stream_id(session_id), session.STREAM_TYPE, 0, [started], context())

            await asyncio.gather(*map(one, ids))
            return ids

        return self.loop.run_until_complete(create())


# --- peer: the eventsourcing library's PostgreSQL application, threads ------------------------------------------


class Session(Aggregate):
    """The peer's session: created with its tenant, then one event per posted message."""

    @event("Started")
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.messages = 0

    @event("Posted")
    def post(self, text: str) -> None:
        self.messages += 1
        self.last_text = text


class SessionApp(Application[uuid.UUID]):
    """The peer application; its events live in `bench_peer.sessionapp_events`."""


def peer_env(dsn: str, writers: int, cache: int = 0) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for our server, with one pooled connection per writer.

    `cache` > 0 turns on the library's aggregate cache (off by default) without fast-forwarding,
    so `repository.get` answers from memory like our store's state cache does.
    """
    url = urlsplit(dsn)
    cached = {"AGGREGATE_CACHE_MAXSIZE": str(cache), "AGGREGATE_CACHE_FASTFORWARD": "n"} if cache else {}
    return {
        **cached,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "x",  # trust auth takes anything
        "POSTGRES_SCHEMA": PEER_SCHEMA,
        "CREATE_TABLE": "y",
        "POSTGRES_POOL_SIZE": str(writers),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


class Peer:
    """eventsourcing on a thread pool of `writers` threads and a connection pool of the same size."""

    def __init__(self, dsn: str, writers: int, cache: int = 0) -> None:
        self.app = SessionApp(env=peer_env(dsn, writers, cache))
        self.threads = ThreadPoolExecutor(writers, thread_name_prefix="peer")
        self.writers = writers

    def close(self) -> None:
        self.threads.shutdown()
        self.app.close()

    def _run(self, command: Callable[[Any], object], work: list[list[Any]]) -> int:
        def writer(items: list[Any]) -> None:
            for item in items:
                command(item)

        for _ in self.threads.map(writer, work):
            pass
        return sum(map(len, work))

    def new_streams(self, writers: int, commands: int) -> int:
        return self._run(lambda _: self.app.save(Session(TENANT)), [[None] * n for n in shares(commands, writers)])

    def existing_streams(self, streams: list[list[uuid.UUID]], commands: int) -> int:
        work = [list(cycle(own, n)) for own, n in zip(streams, shares(commands, len(streams)), strict=True)]
        return self._run(self._post, work)

    def _post(self, session_id: uuid.UUID) -> None:
        aggregate: Session = self.app.repository.get(session_id)
        aggregate.post(TEXT)
        self.app.save(aggregate)

    def create_streams(self, count: int) -> list[uuid.UUID]:
        def create(n: int) -> list[uuid.UUID]:
            created = [Session(TENANT) for _ in range(n)]
            for aggregate in created:
                self.app.save(aggregate)
            return [aggregate.id for aggregate in created]

        return [i for ids in self.threads.map(create, shares(count, self.writers)) for i in ids]


# --- the runs ------------------------------------------------------------------------------------------------------


def batches_of_streams(
    create: Callable[[int], list[uuid.UUID]], batches: int, writers: int, commands: int
) -> Iterator[list[list[uuid.UUID]]]:
    """Fresh pre-created streams for each of `batches` batches, dealt out per writer."""
    count = max(writers, commands // APPENDS_PER_STREAM)
    for _ in range(batches):
        yield per_writer(create(count), writers)


def measure(
    ours: Ours,
    peer: Peer,
    limit: Callable[[], float],
    mode: str,
    writers: int,
    commands: int,
    rounds: int,
    peer_cache: int,
) -> tuple[Result, Result]:
    """Median events/s of ours and the peer for one (writers, mode), over rounds interleaved with the database's
    `limit` (pgbench's commits/s): ours against the peer, and ours against the limit measured in the same minutes."""
    runs: tuple[Callable[[], int], Callable[[], int]]
    if mode == "new":
        runs = partial(ours.new_streams, writers, commands), partial(peer.new_streams, writers, commands)
    else:  # each batch (the warm-up too) gets its own pre-created streams, made here, untimed
        our_streams = iter(list(batches_of_streams(ours.create_streams, rounds + 1, writers, commands)))
        peer_streams = iter(list(batches_of_streams(peer.create_streams, rounds + 1, writers, commands)))
        runs = (
            lambda: ours.existing_streams(next(our_streams), commands),
            lambda: peer.existing_streams(next(peer_streams), commands),
        )
    mine, theirs, limits = interleaved(rounds, timed(runs[0]), timed(runs[1]), limit)
    params: dict[str, Any] = {"writers": writers, "mode": mode, "commands": commands, "rounds": rounds}
    if peer_cache:
        params["peer_cache"] = peer_cache
    metric = f"append {mode} streams"
    return (
        Result(metric, median(mine), "events/s", True, PEER, median(theirs), params),
        Result(f"{metric} / pgbench", median(mine), "events/s", True, "pgbench", median(limits), params),
    )


def profile(ours: Ours, writers: int, commands: int) -> None:
    """cProfile of one batch of our side per mode; prints where the time goes."""
    streams = next(batches_of_streams(ours.create_streams, 1, writers, commands))
    for mode, run in (
        ("new", partial(ours.new_streams, writers, commands)),
        ("existing", partial(ours.existing_streams, streams, commands)),
    ):
        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        out.print(f"[bold]ours, {mode} streams, {writers} writers, {commands} commands: by own time[/bold]")
        out.print(text.getvalue(), highlight=False, markup=False)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        out.print(f"[bold]ours, {mode} streams: by cumulative time[/bold]")
        out.print(text.getvalue(), highlight=False, markup=False)


def main(
    commands: Annotated[int, typer.Option(help="commands (= events) per timed batch")] = 2000,
    rounds: Annotated[int, typer.Option(help="interleaved rounds; the median is reported")] = 3,
    writers: Annotated[list[int] | None, typer.Option(help="concurrent writers (repeat the option)")] = None,
    peer_cache: Annotated[
        int, typer.Option(help="the peer's aggregate cache size (AGGREGATE_CACHE_MAXSIZE); 0: the default, off")
    ] = 0,
    profile_writers: Annotated[
        int, typer.Option("--profile", help="after the runs, cProfile one batch of ours with this many writers")
    ] = 0,
) -> None:
    """Append throughput, one event per command, on new and existing streams: agentlog vs eventsourcing."""
    servers = endpoints()
    dsn = servers.postgres_dsn
    codec = ready_codec(servers.schema_registry_url)
    fresh_schema(dsn, OURS_SCHEMA)
    fresh_schema(dsn, PEER_SCHEMA, migrated=False)  # the peer creates its own table
    pgbench.prepare(dsn)
    loop = uvloop.new_event_loop()
    counts = writers or [1, 16, 64]
    out.print(f"[dim]{commands} commands per batch x {rounds} rounds per configuration, interleaved with {PEER}[/dim]")
    results = []
    try:
        for n in counts:
            ours, peer = Ours.connect(loop, dsn, codec, n), Peer(dsn, n, peer_cache)
            try:
                limit = partial(pgbench.commits_per_second, dsn, n)
                for mode in MODES:
                    r, against = measure(ours, peer, limit, mode, n, commands, rounds, peer_cache)
                    results += [r, against]
                    out.print(
                        f"[dim]· {n:>2} writers, {mode:8}: ours {r.value:,.0f}/s, peer {r.peer_value:,.0f}/s, "
                        f"pgbench {against.peer_value:,.0f} commits/s[/dim]"
                    )
            finally:
                peer.close()
                ours.close()
        write_results("append", results)
        if profile_writers:
            ours = Ours.connect(loop, dsn, codec, profile_writers)
            try:
                profile(ours, profile_writers, commands)
            finally:
                ours.close()
    finally:
        loop.close()


if __name__ == "__main__":
    typer.run(main)
