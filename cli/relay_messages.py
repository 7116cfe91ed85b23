"""The provider's side of the message pacts: what the real relay puts on Kafka, read back through the registry.

`produce` writes `relay_samples` through the event store (Avro-encoded and validated against the
registry as every append is), runs the relay until it has published them, reads the records from
Kafka and decodes each through the registry by the schema id it carries (`EventCodec.read`). Every
(event type, topic) pair seen becomes one message, named as the pacts name it
(`contracts.messages.description`), with its topic and event type as metadata.

It works in a place of its own (`provider.scratch`): a fresh Postgres schema, a fresh topic prefix and
registry subjects under it, all removed afterwards, so it can run against shared or production-like servers.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from confluent_kafka import Consumer, TopicPartition

from cli.provider import scratch
from cli.relay_samples import samples
from contracts.codec import EventCodec
from contracts.messages import description, to_content
from domain.events import CommandContext
from eventstore.queries import relay_behind
from eventstore.relay import Relay
from eventstore.store import PostgresEventStore
from stack import Endpoints

Message = dict[str, Any]  # pact's Message: contents, metadata, content_type


def produce(servers: Endpoints, timeout: float = 60.0) -> dict[str, Message]:
    """The messages the relay emits, by interaction description (see the module)."""
    with scratch(servers, "pact") as place:
        wanted = asyncio.run(_append_and_relay(servers, place.schema, place.codec, timeout))
        return _read(servers, place.codec, wanted, timeout)


async def _append_and_relay(servers: Endpoints, schema: str, codec: EventCodec, timeout: float) -> set[str]:
    """Append the samples, then relay until nothing is left behind; the ids of the events appended."""
    store = await PostgresEventStore.connect(servers.postgres_dsn, codec, schema=schema, pool_size=2)
    pool = await asyncpg.create_pool(servers.postgres_dsn, min_size=1, max_size=2,
                                     server_settings={"search_path": schema})  # fmt: skip
    relay = Relay(pool, servers.kafka_bootstrap_servers)
    tenant = f"pact-{uuid.uuid4().hex[:8]}"
    try:
        for stream in samples(tenant):
            context = CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))
            await store.append(stream.stream_id, stream.stream_type, 0, stream.events, context)
        deadline = time.monotonic() + timeout
        while await relay.publish_batch() or (await relay_behind(pool, relay.name)).events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the relay did not publish every sample within {timeout:.0f} s")
            await asyncio.sleep(0.01)
        rows = await pool.fetch("SELECT event_id::text AS id FROM events")
        return {row["id"] for row in rows}
    finally:
        await pool.close()
        await store.close()


def _read(servers: Endpoints, codec: EventCodec, wanted: set[str], timeout: float) -> dict[str, Message]:
    """Read the topics from the start until every wanted event was seen; one message per (type, topic)."""
    consumer = Consumer({"bootstrap.servers": servers.kafka_bootstrap_servers, "group.id": f"pact-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    prefix, messages, missing = codec.routing.prefix, {}, set(wanted)
    try:
        topics = consumer.list_topics(timeout=10).topics
        mine = [t for t in codec.routing.topics() if t in topics]
        consumer.assign([TopicPartition(t, p, 0) for t in mine for p in topics[t].partitions])
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            for record in consumer.consume(500, timeout=0.5):
                if record.error() or record.value() is None:
                    continue
                event_type, body = codec.read(record.value() or b"")
                missing.discard(str(body["meta"]["event_id"]))
                topic = (record.topic() or "").removeprefix(prefix)
                messages[description(event_type, topic)] = {
                    "contents": json.dumps(to_content(body)).encode(),
                    "metadata": {"topic": topic, "event_type": event_type},
                    "content_type": "application/json",
                }
    finally:
        consumer.close()
    if missing:
        raise TimeoutError(f"{len(missing)} of {len(wanted)} relayed events never arrived on Kafka in {timeout:.0f} s")
    return messages
