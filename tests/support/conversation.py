"""The conversation worker for tests: a full API of its own (schema, topics, views) and the worker beside it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from contracts.codec import EventCodec
from contracts.routing import INBOUND
from eventstore.store import PostgresEventStore
from stack import Endpoints
from tests.support.api import RunningApi
from workers.conversation.settings import ConversationSettings
from workers.conversation.worker import make_handler
from workers.runtime import Worker


def settings_for(api: RunningApi, codec: EventCodec, servers: Endpoints, **changes: Any) -> ConversationSettings:
    """The worker's settings on the API's schema and topics."""
    return ConversationSettings(
        postgres_dsn=api.settings.postgres_dsn,
        db_schema=api.settings.db_schema,
        topic_prefix=codec.routing.prefix,
        kafka_bootstrap_servers=servers.kafka_bootstrap_servers,
        schema_registry_url=servers.schema_registry_url,
        **changes,
    )


@contextmanager
def worker_running(api: RunningApi, codec: EventCodec, settings: ConversationSettings) -> Iterator[PostgresEventStore]:
    """The conversation worker on the API's background loop until the block ends; yields its event store."""

    async def start() -> tuple[PostgresEventStore, asyncio.Event, asyncio.Task[None]]:
        store = await PostgresEventStore.connect(settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=4)
        handler = await make_handler(settings, store, codec)
        worker = Worker("conversation", [INBOUND], codec, settings.kafka_bootstrap_servers, handler)
        stop = asyncio.Event()
        return store, stop, asyncio.create_task(worker.run(stop))

    store, stop, task = asyncio.run_coroutine_threadsafe(start(), api.loop).result(30)
    try:
        yield store
    finally:
        api.loop.call_soon_threadsafe(stop.set)

        async def finish() -> None:
            await task
            await store.close()

        asyncio.run_coroutine_threadsafe(finish(), api.loop).result(60)


def events(client: httpx.Client, headers: dict[str, str], session: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/sessions/{session}/events", headers=headers)
    return response.json() if response.status_code == 200 else []


def replies(client: httpx.Client, headers: dict[str, str], session: str) -> list[dict[str, Any]]:
    """The session's final assistant messages, as recorded."""
    return [
        e["data"]
        for e in events(client, headers, session)
        if e["event_type"] == "agentlog.session.MessagePosted" and e["data"]["role"] == "assistant"
    ]


def wait_for_reply(client: httpx.Client, headers: dict[str, str], session: str, count: int = 1, timeout: float = 30):
    """The session's replies once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while len(found := replies(client, headers, session)) < count:
        assert time.monotonic() < deadline, (
            f"no reply in {session} within {timeout} s: {events(client, headers, session)}"
        )
        time.sleep(0.05)
    return found


def post(client: httpx.Client, headers: dict[str, str], text: str, **extra: Any) -> httpx.Response:
    return client.post("/v1/session/message", json={"message": text, **extra}, headers=headers)


def new_id() -> str:
    return str(uuid.uuid4())
