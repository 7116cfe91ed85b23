"""Rebuild benchmark: events/s of rebuilding the sessions view into a new key version, from Kafka and from the store."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Annotated

import asyncpg
import psycopg
import redis.asyncio as aioredis
import typer
from confluent_kafka import Producer
from psycopg import sql

from bench.append import fresh_schema
from bench.common import Result, endpoints, median, out, write_results
from bench.projection import BATCH, Show, alternate, drop_keys, mix, produce, scratch
from bench.relay import prefill
from contracts.codec import EventCodec
from projections.deadletter import DeadLetters
from projections.rebuild import Rebuild, StoreSource
from projections.views import VIEWS
from stack import Endpoints

SCHEMA = "bench_rebuild"
VIEW = "sessions"


async def rebuild(codec: EventCodec, servers: Endpoints, store: StoreSource | None, events: int, show: Show) -> float:
    """Events/s of one `Rebuild` of the view under a fresh Redis prefix, as the rebuild itself times it."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    client = aioredis.Redis.from_url(servers.redis_url)
    letters = DeadLetters(Producer({"bootstrap.servers": servers.kafka_bootstrap_servers}), codec.routing.prefix)
    try:
        done = await Rebuild(
            VIEWS[VIEW],
            codec,
            client,
            servers.kafka_bootstrap_servers,
            letters,
            prefix=prefix,
            store=store,
            keep_old=True,  # nothing to keep under a fresh prefix; spares the wait for live runners
            batch=BATCH,
            progress=lambda n, total: show(f"{n:,}/{total:,} events"),
        ).run()
    finally:
        await client.aclose()
        drop_keys(servers.redis_url, prefix)
    assert done.events == events, f"the rebuild read {done.events} events, not {events}"
    return done.rate


def timed(codec: EventCodec, servers: Endpoints, store: StoreSource | None, events: int, show: Show) -> float:
    return asyncio.run(rebuild(codec, servers, store, events, show))


async def fill_store(dsn: str, rows: list[tuple[object, ...]]) -> None:
    """COPY the rows into the fresh schema's `events` (positions 1..N, as the Kafka headers say)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, server_settings={"search_path": SCHEMA})
    try:
        assert await prefill(pool, list(rows)) == len(rows)
    finally:
        await pool.close()


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def main(
    events: Annotated[int, typer.Option(help="events on the topics and in the store; each rebuild reads them all")] = (
        200_000
    ),
    sessions: Annotated[int, typer.Option(help="sessions the events are spread over")] = 2000,
    rounds: Annotated[int, typer.Option(help="rebuilds per source, alternating sources; median reported")] = 3,
    partitions: Annotated[int, typer.Option(help="partitions of each topic")] = 3,
) -> None:
    """Rebuild rate of the sessions view, from the Kafka topics and from the event store."""
    servers = endpoints()
    fresh_schema(servers.postgres_dsn, SCHEMA)
    try:
        with scratch(servers, partitions) as codec:
            with out.status(f"encoding {events:,} events over {sessions:,} sessions"):
                rows = mix(codec, events, sessions)
            with out.status(f"producing them to {codec.routing.prefix}* and copying them into {SCHEMA}.events"):
                produce(servers.kafka_bootstrap_servers, rows)
                asyncio.run(fill_store(servers.postgres_dsn, rows))
            del rows  # not kept through the rounds: no GC load
            store = StoreSource(servers.postgres_dsn, SCHEMA)
            with out.status("warming up") as status:
                timed(codec, servers, None, events, status.update), timed(codec, servers, store, events, status.update)
            sides = {
                "kafka": partial(timed, codec, servers, None, events),
                "store": partial(timed, codec, servers, store, events),
            }
            rates = alternate(rounds, sides, f"rebuild {VIEW}", servers.redis_url)
    finally:
        drop_schema(servers.postgres_dsn, SCHEMA)
    params = {"view": VIEW, "events": events, "sessions": sessions, "rounds": rounds, "batch": BATCH}
    write_results(
        "rebuild",
        [
            Result(f"rebuild {VIEW} from kafka", median(rates["kafka"]), "events/s", True, params=params),
            Result(f"rebuild {VIEW} from store", median(rates["store"]), "events/s", True, params=params),
        ],
    )


if __name__ == "__main__":
    typer.run(main)
