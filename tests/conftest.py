"""Shared fixtures: real servers once per session, unique names per test, tier markers by folder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

from cli.provider import drop_keys, drop_schema, drop_subjects, drop_topics
from contracts import registry as contracts_registry
from contracts.codec import EventCodec
from contracts.routing import Routing
from eventstore.migrate import migrate
from eventstore.store import PostgresEventStore
from observability import redisconn
from stack import Endpoints
from tests.support import kafka as kafka_support
from tests.support.api import RunningApi, running_api
from tests.support.servers import session_servers
from tests.support.suite import ModuleScheduling

TIERS = ("unit", "integration", "contract", "e2e", "faults", "performance", "cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, taken from the folder it lives in. The fault tier is `tests/faults` and
    every test elsewhere that kills a process or restarts a server (marked `faults` where it lives); those that
    restart a server the others share, or kill and time a takeover on a cluster, run alone (`serial`, which
    implies `faults`), `tests/faults` among them; the suite runs the cluster tier's serial tests last
    (tests/support/suite.py)."""
    for item in items:
        tier = Path(item.fspath).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if tier == "faults":
            item.add_marker(pytest.mark.serial)
        elif item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.faults)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> ModuleScheduling | None:
    """With `--dist loadfile`, the suite's scheduling (tests/support/suite.py): module by module, pacts together."""
    return ModuleScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.fixture(scope="session")
def servers() -> Iterator[Endpoints]:
    """Real Postgres, Redis, Kafka and schema registry, in the mode AGENTLOG_TEST_SERVERS names."""
    yield from session_servers()


@pytest.fixture
def unique() -> str:
    """A short random name part, so each test owns its schemas, topics, keys and subjects."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class PgSchema:
    """A fresh Postgres schema: `dsn` reaches the database, `name` is the schema to work in."""

    dsn: str
    name: str

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, options=f"-c search_path={self.name}")


@pytest.fixture
def pg_schema(servers: Endpoints, unique: str) -> Iterator[PgSchema]:
    """A Postgres schema of this test's own, dropped afterwards."""
    schema = PgSchema(servers.postgres_dsn, f"test_{unique}")
    with psycopg.connect(servers.postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema.name}"')
    yield schema
    drop_schema(servers.postgres_dsn, schema.name)


@pytest.fixture
def redis_prefix(servers: Endpoints, unique: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{unique}:"
    yield prefix
    drop_keys(servers.redis_url, prefix)


@pytest.fixture
def redis_client(servers: Endpoints) -> Iterator[redis.Redis]:
    with redisconn.connect_sync(servers.redis_url, decode_responses=True) as client:
        yield client


@pytest.fixture(scope="session")
def kafka_admin(servers: Endpoints) -> AdminClient:
    return AdminClient({"bootstrap.servers": servers.kafka_bootstrap_servers})


@pytest.fixture
def new_topic(kafka_admin: AdminClient, unique: str) -> Iterator[Callable[..., str]]:
    """Create topics named `test.<unique>.<name>`; they are deleted afterwards."""
    created: list[str] = []

    def create(name: str = "events", partitions: int = 1) -> str:
        created.append(kafka_support.create_topic(kafka_admin, f"test.{unique}.{name}", partitions))
        return created[-1]

    yield create
    kafka_support.delete_topics(kafka_admin, created)


@pytest.fixture
def wait_for_event(servers: Endpoints) -> Callable[..., Message]:
    """wait_for_event(topic, predicate, timeout): the first matching record read from the beginning."""

    def wait(topic: str, predicate: Callable[[Message], bool] = lambda _m: True, timeout: float = 10.0):
        return kafka_support.wait_for_event(servers.kafka_bootstrap_servers, topic, predicate, timeout)

    return wait


@pytest.fixture(scope="session")
def registry(servers: Endpoints) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": servers.schema_registry_url})


@pytest.fixture
def subject_prefix(registry: SchemaRegistryClient, unique: str) -> Iterator[str]:
    """A registry subject prefix of this test's own; its subjects are deleted afterwards."""
    prefix = f"test-{unique}-"
    yield prefix
    drop_subjects(registry, prefix)


@contextmanager
def registered_codec(servers: Endpoints, registry: SchemaRegistryClient) -> Iterator[EventCodec]:
    """A codec under a fresh topic prefix, its subjects registered and resolved; subjects and topics
    (the dead-letter ones too) are deleted afterwards."""
    routing = Routing(prefix=f"s{uuid.uuid4().hex[:8]}.")
    contracts_registry.register(registry, contracts_registry.check(registry, routing))
    codec = EventCodec(registry, routing)
    codec.resolve()
    yield codec
    drop_subjects(registry, routing.prefix)
    drop_topics(servers.kafka_bootstrap_servers, routing.prefix)


@pytest.fixture(scope="session")
def codec(servers: Endpoints, registry: SchemaRegistryClient) -> Iterator[EventCodec]:
    """A codec shared by the session's tests (topics under a session-unique prefix)."""
    with registered_codec(servers, registry) as codec:
        yield codec


@pytest.fixture
def own_codec(servers: Endpoints, registry: SchemaRegistryClient) -> Iterator[EventCodec]:
    """A codec with topics of this test's own: for tests that put records other tests must not see."""
    with registered_codec(servers, registry) as codec:
        yield codec


@pytest.fixture
async def event_store(pg_schema: PgSchema, codec: EventCodec) -> AsyncIterator[PostgresEventStore]:
    """An event store in this test's own Postgres schema, migrated."""
    migrate(pg_schema.dsn, pg_schema.name)
    store = await PostgresEventStore.connect(pg_schema.dsn, codec, schema=pg_schema.name, snapshot_every=5)
    yield store
    await store.close()


@pytest.fixture(scope="session")
def api(servers: Endpoints, codec: EventCodec) -> Iterator[RunningApi]:
    """The REST API on a real uvicorn server, with the relay and every projection behind it."""
    with running_api(servers, codec) as running:
        yield running
