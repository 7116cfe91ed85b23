"""This code as a pact provider on given servers, in a place of its own that is removed afterwards.

`scratch` makes the place: a fresh Postgres schema (migrated), a fresh topic prefix with its topics
and registry subjects (the contracts registered under it), and a Redis key prefix; all of it is
deleted at the end, so the gate can run against shared or production-like servers. `provider_api`
runs, in one process and in that place, what the HTTP pacts are verified against: the API on a
real uvicorn server, the relay, every projection view and the tool executor (under POLICY, which
leaves `echo` to a person). The pieces (`pipeline`, `serve`) are also what the API tests run.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import uvicorn
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from api.app import create_app
from api.settings import ApiSettings
from api.tenants import Tenants
from contracts import registry as contracts_registry
from contracts.codec import EventCodec
from contracts.routing import TOOL_REQUESTS, Routing
from contracts.topics import ensure_topics
from eventstore.migrate import migrate
from eventstore.relay import Relay
from eventstore.store import PostgresEventStore
from observability import redisconn
from observability.http import tls
from projections.deadletter import DeadLetters, dlq_topic
from projections.runner import ProjectionRunner
from projections.views import VIEWS
from stack import Endpoints
from stack.ports import free_port
from workers.runtime import Worker
from workers.tools.executor import Executor
from workers.tools.policy import FailClosed, RegoFiles
from workers.tools.settings import ToolSettings
from workers.tools.worker import tool_registry

# The provider's tool policy: the pacts' tool executions run `calculator` and wait for a person on `echo`.
POLICY = """package agentlog.tools
import rego.v1
default decision := "deny"
default reason := "not a tool of the provider's pacts"
decision := "allow" if input.tool == "calculator"
reason := "allowed for the pacts" if input.tool == "calculator"
decision := "approve" if input.tool == "echo"
reason := "a person approves echo" if input.tool == "echo"
"""


@dataclass(frozen=True)
class Scratch:
    """A place of one's own on shared servers (see the module)."""

    servers: Endpoints
    schema: str
    codec: EventCodec
    redis_prefix: str


@contextmanager
def scratch(servers: Endpoints, name: str, partitions: int = 1) -> Iterator[Scratch]:
    """A fresh schema `<name>_<run>`, topic prefix `<name><run>.` and Redis prefix `<name>:<run>:`, removed after."""
    run = uuid.uuid4().hex[:10]
    schema, routing = f"{name}_{run}", Routing(prefix=f"{name}{run}.")
    registry = contracts_registry.connect(servers.schema_registry_url)
    try:
        migrate(servers.postgres_dsn, schema)
        contracts_registry.register(registry, contracts_registry.check(registry, routing))
        codec = EventCodec(registry, routing)
        codec.resolve()
        ensure_topics(servers.kafka_bootstrap_servers, routing.topics(), partitions)
        yield Scratch(servers, schema, codec, f"{name}:{run}:")
    finally:
        _remove(servers, registry, schema, routing, f"{name}:{run}:")


def _remove(servers: Endpoints, registry: Any, schema: str, routing: Routing, redis_prefix: str) -> None:
    drop_schema(servers.postgres_dsn, schema)
    drop_subjects(registry, routing.prefix)
    drop_topics(servers.kafka_bootstrap_servers, routing.prefix)
    drop_keys(servers.redis_url, redis_prefix)


# Removing a place of one's own, piece by piece (also what the tests clean up with).


def drop_schema(dsn: str, schema: str) -> None:
    """The Postgres schema and everything in it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def drop_subjects(registry: Any, prefix: str) -> None:
    """Every registry subject whose name starts with `prefix`, deleted for good."""
    for subject in registry.get_subjects():
        if subject.startswith(prefix):
            registry.delete_subject(subject)
            registry.delete_subject(subject, permanent=True)


def drop_topics(bootstrap_servers: str, prefix: str) -> None:
    """Every Kafka topic whose name starts with `prefix` (one already gone is no error)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    gone = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in admin.delete_topics(gone, operation_timeout=10).values() if gone else []:
        with suppress(KafkaException):
            future.result(timeout=15)


def drop_keys(redis_url: str, prefix: str) -> None:
    """Every Redis key that starts with `prefix`."""
    with redisconn.connect_sync(redis_url) as client:
        if keys := list(client.scan_iter(match=f"{prefix}*", count=1000)):
            client.delete(*keys)


async def pipeline(
    settings: ApiSettings, servers: Endpoints, codec: EventCodec, stop: asyncio.Event, *, policies: Path | None = None
) -> None:
    """Relay the schema's events to Kafka and fold them into every view until `stop`; with `policies`, the
    tool executor runs too, under the Rego files of that folder."""
    pool = await asyncpg.create_pool(settings.postgres_dsn, server_settings={"search_path": settings.db_schema})
    relay = Relay(pool, servers.kafka_bootstrap_servers)  # woken by NOTIFY; its 0.5 s poll is the fallback
    letters = DeadLetters(Producer({"bootstrap.servers": servers.kafka_bootstrap_servers}), codec.routing.prefix)
    runners = [
        ProjectionRunner(view, codec, servers.redis_url, servers.kafka_bootstrap_servers, letters,
                         prefix=settings.redis_prefix)
        for view in VIEWS.values()
    ]  # fmt: skip
    running: list[Coroutine[Any, Any, None]] = [relay.run(stop), *(r.run(stop) for r in runners)]
    store = None
    if policies:
        store = await PostgresEventStore.connect(settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=2)
        executor = Executor(store, FailClosed(RegoFiles(policies)), tool_registry(ToolSettings()))
        worker = Worker("tools", [TOOL_REQUESTS], codec, servers.kafka_bootstrap_servers, executor.handle)
        running.append(worker.run(stop))
    try:  # every task ends before the pools close; then the first failure, if any, is raised
        outcomes = await asyncio.gather(*running, return_exceptions=True)
    finally:
        if store:
            await store.close()
        await pool.close()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


@contextmanager
def serve(settings: ApiSettings) -> Iterator[str]:
    """The API of `settings` on a real uvicorn server in a thread; yields its URL once /health answers (200 or 503)."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=settings.api_port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"api-{settings.api_port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.api_port}"
    try:
        _wait_until_up(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def _wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/health", timeout=5, verify=tls())
            if answer.status_code in (200, 503):  # 503: it answers, a dependency is down
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API at {url} did not come up within {timeout:.0f} s")


def background_loop() -> asyncio.AbstractEventLoop:
    """An event loop running in a daemon thread, for the coroutines a synchronous caller starts."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="provider-loop", daemon=True).start()
    return loop


@dataclass(frozen=True)
class ProviderApi:
    """The running provider: its URL, and `tenant(*scopes)` making a tenant and an API key with those scopes."""

    url: str
    tenant: Callable[..., tuple[str, str]]


@contextmanager
def provider_api(servers: Endpoints) -> Iterator[ProviderApi]:
    """This code's API with its relay, views and tool executor, in a scratch place on `servers` (see the module)."""
    with scratch(servers, "pactapi", partitions=3) as place, tempfile.TemporaryDirectory() as policies:
        (Path(policies) / "default.rego").write_text(POLICY)
        views = [dlq_topic(place.codec.routing.prefix, v) for v in VIEWS]
        ensure_topics(servers.kafka_bootstrap_servers, views, 1)
        settings = ApiSettings(
            postgres_dsn=servers.postgres_dsn,
            redis_url=servers.redis_url,
            schema_registry_url=servers.schema_registry_url,
            kafka_bootstrap_servers=servers.kafka_bootstrap_servers,
            db_schema=place.schema,
            topic_prefix=place.codec.routing.prefix,
            redis_prefix=place.redis_prefix,
            api_port=free_port(),
            jwt_secret=None,
            jwt_public_key=None,
        )
        loop, stop = background_loop(), asyncio.Event()
        running = asyncio.run_coroutine_threadsafe(
            pipeline(settings, servers, place.codec, stop, policies=Path(policies)), loop
        )
        pool = asyncio.run_coroutine_threadsafe(_pool(settings), loop).result(30)
        tenants = Tenants(pool)

        def tenant(*scopes: str) -> tuple[str, str]:
            async def make() -> tuple[str, str]:
                name = f"pact-{uuid.uuid4().hex[:8]}"
                await tenants.create(name)
                return name, (await tenants.add_key(name, list(scopes)))[1]

            return asyncio.run_coroutine_threadsafe(make(), loop).result(30)

        try:
            with serve(settings) as url:
                yield ProviderApi(url, tenant)
        finally:
            loop.call_soon_threadsafe(stop.set)
            try:
                running.result(30)
            finally:
                asyncio.run_coroutine_threadsafe(pool.close(), loop).result(10)
                loop.call_soon_threadsafe(loop.stop)


async def _pool(settings: ApiSettings) -> asyncpg.Pool:
    return await asyncpg.create_pool(settings.postgres_dsn, server_settings={"search_path": settings.db_schema})
