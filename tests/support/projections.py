"""Helpers for read-side tests: write through the real command services, relay, run the views."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import asyncpg
import stamina
from confluent_kafka import KafkaError, KafkaException, Producer

from contracts.codec import EventCodec
from domain.events import CommandContext
from domain.session.commands import PostUserMessage, StartSession
from domain.session.service import StartWithMessage, post_user, start_with_message
from eventstore.queries import relay_behind
from eventstore.relay import Relay
from eventstore.store import PostgresEventStore
from projections.deadletter import DeadLetters
from projections.runner import ProjectionRunner
from projections.views import VIEWS
from stack import Endpoints


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def publish(store: PostgresEventStore, dsn: str, schema: str, servers: Endpoints, only: int = 0) -> int:
    """Run the relay until every event of the store is on Kafka (or just the next `only` events)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, server_settings={"search_path": schema})
    relay = Relay(pool, servers.kafka_bootstrap_servers, batch_size=only or 5000)
    try:
        if only:
            return await batch(relay)
        # until nothing is left behind: a transaction running elsewhere on the cluster (another
        # process's append) can hold the relay's horizon back for a moment
        deadline = time.monotonic() + 30
        while await batch(relay) or (await relay_behind(pool, relay.name)).events:
            assert time.monotonic() < deadline, "the relay left events behind"
            await asyncio.sleep(0.01)
        return relay.published
    finally:
        await pool.close()


async def batch(relay: Relay) -> int:
    """One batch, as `Relay.run` publishes it: a Kafka error that says to try again (a topic created a moment
    ago has no partition leader yet) is retried, as the running relay retries it."""
    async for attempt in stamina.retry_context(on=retriable, attempts=20, wait_initial=0.05, wait_max=0.5):
        with attempt:
            return await relay.publish_batch()
    raise AssertionError("unreachable: stamina raises after the last attempt")


TRANSIENT = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}


def retriable(error: Exception) -> bool:
    kafka = error.args[0] if isinstance(error, KafkaException) and error.args else None
    return isinstance(kafka, KafkaError) and (kafka.retriable() or kafka.code() in TRANSIENT)


def dead_letters(servers: Endpoints, codec: EventCodec) -> DeadLetters:
    return DeadLetters(Producer({"bootstrap.servers": servers.kafka_bootstrap_servers}), codec.routing.prefix)


def runners(
    names: Iterable[str],
    codec: EventCodec,
    servers: Endpoints,
    prefix: str,
    letters: DeadLetters | None = None,
    **options,
) -> list:
    """A runner per view on this test's prefix; their poison goes to `letters` (by default the real topics)."""
    letters = letters or dead_letters(servers, codec)
    return [
        ProjectionRunner(
            VIEWS[n], codec, servers.redis_url, servers.kafka_bootstrap_servers, letters, prefix=prefix, **options
        )
        for n in names
    ]


async def run_until(
    running: list[ProjectionRunner], until: Callable[[list[ProjectionRunner]], object], timeout: float = 30.0
) -> list[ProjectionRunner]:
    """Run the runners until `until(runners)` holds (polled; it may be a coroutine function), then stop them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in running]
    deadline = time.monotonic() + timeout

    async def holds() -> bool:
        result = until(running)
        return bool(await result if inspect.isawaitable(result) else result)

    try:
        while not await holds():
            assert time.monotonic() < deadline, "the views did not catch up"
            for task in tasks:
                if task.done():
                    task.result()  # a runner that died: show why
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return running


async def project(names, codec, servers, prefix: str, until, timeout: float = 30.0, **options):
    """Run the named views until `until(runners)` holds, then stop them."""
    return await run_until(runners(names, codec, servers, prefix, **options), until, timeout)


async def session_with_messages(store: PostgresEventStore, tenant: str, count: int) -> uuid.UUID:
    """A session with `count` user messages m0..m{count-1}, written through the command services."""
    session = uuid.uuid4()
    await start_with_message(
        store,
        ctx(tenant),
        StartWithMessage(
            start=StartSession(session_id=session, tenant_id=tenant),
            message=PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text="m0"),
        ),
    )
    for i in range(1, count):
        await post_user(
            store,
            ctx(tenant),
            PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"m{i}"),
        )
    return session
