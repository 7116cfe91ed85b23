"""The whole system for API tests: a real uvicorn server, the relay and every projection, on real servers.

Everything runs in background threads of the test process (so coverage sees it), on a Postgres
schema and Redis key prefix of the API's own and the test session's topic prefix; the pieces are
the pact provider's (cli/provider.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import asyncpg
import httpx
import psycopg

from api.settings import ApiSettings
from api.tenants import Tenants
from cli.provider import background_loop, drop_keys, drop_schema, pipeline, serve
from contracts.codec import EventCodec
from contracts.topics import ensure_topics
from eventstore.migrate import migrate
from observability.http import tls
from projections.deadletter import dlq_topic
from projections.views import VIEWS
from stack import Endpoints
from stack.ports import free_port

JWT_SECRET = "test-secret-of-32-characters-or-more!"


@dataclass
class RunningApi:
    """A running API: its URL, its settings, and a way to make tenants with keys."""

    url: str
    settings: ApiSettings
    loop: asyncio.AbstractEventLoop
    tenants: Tenants
    keys: dict[str, str] = field(default_factory=dict)

    def tenant(self, *scopes: str) -> tuple[str, dict[str, str]]:
        """A new tenant and the headers of an API key for it with `scopes`."""
        tenant = f"t{uuid.uuid4().hex[:10]}"

        async def make() -> str:
            await self.tenants.create(tenant)
            return (await self.tenants.add_key(tenant, list(scopes)))[1]

        key = asyncio.run_coroutine_threadsafe(make(), self.loop).result(10)
        return tenant, {"X-API-Key": key}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, verify=tls())


def another_api(api: RunningApi, **changes: object) -> ApiSettings:
    """Settings of a second API on the same schema, views and servers, with `changes`, on a free port."""
    return ApiSettings(**(api.settings.model_dump() | changes | {"api_port": free_port()}))


@contextmanager
def running_api(servers: Endpoints, codec: EventCodec) -> Iterator[RunningApi]:
    unique = uuid.uuid4().hex[:8]
    schema, prefix = f"api_{unique}", f"api:{unique}:"
    migrate(servers.postgres_dsn, schema)
    ensure_topics(servers.kafka_bootstrap_servers, codec.routing.topics(), 3)
    ensure_topics(servers.kafka_bootstrap_servers, [dlq_topic(codec.routing.prefix, v) for v in VIEWS], 1)
    settings = ApiSettings(
        postgres_dsn=servers.postgres_dsn,
        redis_url=servers.redis_url,
        schema_registry_url=servers.schema_registry_url,
        kafka_bootstrap_servers=servers.kafka_bootstrap_servers,
        db_schema=schema,
        topic_prefix=codec.routing.prefix,
        redis_prefix=prefix,
        api_port=free_port(),
        api_max_body=64 * 1024,
        jwt_secret=JWT_SECRET,
    )
    loop = background_loop()
    stop = asyncio.Event()
    running = asyncio.run_coroutine_threadsafe(pipeline(settings, servers, codec, stop), loop)

    async def connect() -> asyncpg.Pool:
        return await asyncpg.create_pool(servers.postgres_dsn, server_settings={"search_path": schema})

    pool = asyncio.run_coroutine_threadsafe(connect(), loop).result(10)
    try:
        with serve(settings) as url:
            yield RunningApi(url, settings, loop, Tenants(pool))
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.result(30)
        asyncio.run_coroutine_threadsafe(pool.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        drop_schema(servers.postgres_dsn, schema)
        drop_keys(servers.redis_url, prefix)


def eventually(check, timeout: float = 15.0, every: float = 0.05):
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(every)


def store_db(api: RunningApi) -> psycopg.Connection:
    """A connection to the API's database, in its schema (use it in `with`: closed at the end)."""
    return psycopg.connect(api.settings.postgres_dsn, options=f"-c search_path={api.settings.db_schema}")


def recorded(api: RunningApi, tenant: str) -> int:
    """How many events the tenant has in the store: what a refused write must leave unchanged."""
    with store_db(api) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE tenant_id = %s", (tenant,)).fetchone()
    assert row is not None
    return int(row[0])
