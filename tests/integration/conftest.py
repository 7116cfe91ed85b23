"""Fixtures of the read-side tests: a tenant, the session's topics, read models under this test's prefix."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from contracts.topics import ensure_topics
from domain.events import CommandContext
from eventstore.migrate import migrate
from eventstore.store import PostgresEventStore
from observability import redisconn
from projections.queries import ReadModels


@pytest.fixture
def client(api):
    """An HTTP client of the session's running API."""
    with api.client() as client:
        yield client


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topics(servers, codec) -> None:
    """The shared codec's topics, with three partitions each."""
    ensure_topics(servers.kafka_bootstrap_servers, codec.routing.topics(), 3)


@pytest.fixture
async def reads(servers, redis_prefix):
    """Read-model queries over this test's Redis key prefix."""
    client = redisconn.connect(servers.redis_url, decode_responses=True)
    yield ReadModels(client, redis_prefix)
    await client.aclose()


@pytest.fixture
async def own_store(pg_schema, servers, own_codec):
    """An event store whose events go to topics of this test's own (one partition each)."""
    migrate(pg_schema.dsn, pg_schema.name)
    ensure_topics(servers.kafka_bootstrap_servers, own_codec.routing.topics(), 1)
    store = await PostgresEventStore.connect(pg_schema.dsn, own_codec, schema=pg_schema.name)
    yield store
    await store.close()


@pytest.fixture(scope="module")
def worker(api, codec):
    """Runs a domain service on the API's event store, as a worker process would: `worker(service, tenant, cmd)`."""
    settings = api.settings
    connect = PostgresEventStore.connect(settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=2)
    store = asyncio.run_coroutine_threadsafe(connect, api.loop).result(10)

    def run(service, tenant, command):
        context = CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))
        return asyncio.run_coroutine_threadsafe(service(store, context, command), api.loop).result(10)

    yield run
    asyncio.run_coroutine_threadsafe(store.close(), api.loop).result(10)
