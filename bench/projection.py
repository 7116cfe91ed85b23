"""Projection benchmark: events/s a ProjectionRunner folds from Kafka into Redis, vs a per-event MULTI/EXEC fold."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

import redis
import typer
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from rich.status import Status

from bench.codec import TEXT
from bench.common import Result, endpoints, median, out, write_results
from contracts.codec import EventCodec
from contracts.registry import check, register
from contracts.routing import INBOUND, OUTBOUND, Routing
from contracts.topics import ensure_topics
from domain.events import DomainEvent, EventMetadata, RecordedEvent
from domain.session.aggregate import STREAM_TYPE, stream_id
from domain.session.events import AssistantReplyChunk, MessagePosted, Role, SessionStarted
from eventstore.relay import Relay
from projections.apply import Op
from projections.deadletter import DeadLetters
from projections.pipeline import Incoming
from projections.runner import ProjectionRunner
from projections.views import VIEWS, Keys, View
from stack import Endpoints

PEER = "per-event MULTI/EXEC"
TENANT = "bench-projection"
CHUNKS = 3  # assistant reply chunks streamed before each assistant message
TURN = 2 + CHUNKS  # a user message, the chunks, the assistant message
CHUNK = "Here is the summary of the incident, part "
BATCH = 2000  # ProjectionSettings.projection_batch's default

Show = Callable[[str], None]  # progress text for the status line


@contextlib.contextmanager
def scratch(servers: Endpoints, partitions: int = 3) -> Iterator[EventCodec]:
    """A codec on topics and subjects under a fresh prefix, registered and resolved; topics, subjects and
    consumer groups under the prefix are deleted afterwards."""
    registry = SchemaRegistryClient({"url": servers.schema_registry_url})
    routing = Routing(prefix=f"bench{uuid.uuid4().hex[:8]}.")
    try:
        register(registry, check(registry, routing))
        codec = EventCodec(registry, routing)
        codec.resolve()
        ensure_topics(servers.kafka_bootstrap_servers, [routing.prefix + t for t in (INBOUND, OUTBOUND)], partitions)
        yield codec
    finally:
        remove(servers, registry, routing.prefix)


def remove(servers: Endpoints, registry: SchemaRegistryClient, prefix: str) -> None:
    """Delete the subjects, topics and consumer groups whose names start with `prefix`."""
    for subject in registry.get_subjects():
        if subject.startswith(prefix):
            registry.delete_subject(subject)
            registry.delete_subject(subject, permanent=True)
    admin = AdminClient({"bootstrap.servers": servers.kafka_bootstrap_servers, "log_level": 4})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    groups = [
        g.group_id for g in admin.list_consumer_groups().result(timeout=15).valid if g.group_id.startswith(prefix)
    ]
    futures = {**(admin.delete_topics(topics) if topics else {})}
    futures |= admin.delete_consumer_groups(groups) if groups else {}
    for future in futures.values():
        with contextlib.suppress(Exception):  # already gone
            future.result(timeout=15)


def drop_keys(redis_url: str, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    with redis.Redis.from_url(redis_url) as client:
        batch = list(client.scan_iter(match=f"{prefix}*", count=5000))
        for i in range(0, len(batch), 5000):
            client.unlink(*batch[i : i + 5000])


def compact_aof(redis_url: str, timeout: float = 300.0) -> None:
    """Rewrite Redis's append-only file and wait until it is done, so a round starts from the same small
    AOF instead of partway to an automatic rewrite (a forked child competing for the two cores)."""
    with redis.Redis.from_url(redis_url) as client:
        with contextlib.suppress(redis.ResponseError):  # a rewrite is already running
            client.bgrewriteaof()
        deadline = time.monotonic() + timeout
        while (info := client.info("persistence"))["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis still rewriting its append-only file after {timeout:.0f} s")
            time.sleep(0.05)


def session_event(session: uuid.UUID, version: int, reply: uuid.UUID) -> DomainEvent:
    """Version 1 starts the session; then turns of a user message, CHUNKS reply chunks, the assistant message."""
    step = (version - 2) % TURN
    if version == 1:
        return SessionStarted(session_id=session, tenant_id=TENANT)
    if step == 0:
        return MessagePosted(session_id=session, message_id=uuid.uuid4(), role=Role.USER, text=TEXT)
    if step <= CHUNKS:
        return AssistantReplyChunk(session_id=session, message_id=reply, index=step - 1, text=f"{CHUNK}{step}")
    return MessagePosted(session_id=session, message_id=reply, role=Role.ASSISTANT, text=TEXT)


def mix(codec: EventCodec, events: int, sessions: int) -> list[tuple[Any, ...]]:
    """`events` encoded events as event-store rows (bench.relay.COLUMNS), version-major over `sessions`."""
    ids = [uuid.uuid4() for _ in range(sessions)]
    replies = {session: uuid.uuid4() for session in ids}
    start = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    rows = []
    for i in range(events):
        session, version = ids[i % sessions], i // sessions + 1
        if (version - 2) % TURN == 1:
            replies[session] = uuid.uuid4()  # a new reply starts with its first chunk
        meta = EventMetadata(
            event_id=uuid.uuid4(),
            stream_id=stream_id(session),
            stream_type=STREAM_TYPE,
            stream_version=version,
            tenant_id=TENANT,
            occurred_at=start + timedelta(milliseconds=i),
            correlation_id=uuid.uuid4(),
        )
        e = codec.encode(RecordedEvent(meta=meta, event=session_event(session, version, replies[session])))
        row = (e.key.decode(), STREAM_TYPE, version, e.event_type, meta.event_id, e.schema_id, e.topic, e.value)
        rows.append((*row, TENANT, meta.correlation_id, None, meta.occurred_at))
    return rows


def produce(bootstrap: str, rows: list[tuple[Any, ...]]) -> None:
    """Publish the rows as the relay does (key = stream id; event_type, event_id, position headers)."""
    producer = Producer(Relay.producer_config(bootstrap))
    for position, (stream, _, _, event_type, event_id, _, topic, value, *_) in enumerate(rows, 1):
        headers = [("event_type", event_type.encode()), ("event_id", str(event_id).encode())]
        headers.append(("position", str(position).encode()))  # positions of a fresh store holding the rows
        while True:
            try:
                producer.produce(topic, value=value, key=stream.encode(), headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0, "records left unsent"


class Timed(ProjectionRunner):
    """A runner noting when its consumer got its partitions: the clock starts there (group join excluded)."""

    assigned = 0.0

    async def _stored_offsets(self) -> Mapping[Any, Any]:  # asked first when the partitions are assigned
        self.assigned = self.assigned or time.perf_counter()
        return await super()._stored_offsets()


async def ours(views: list[View], codec: EventCodec, servers: Endpoints, events: int, show: Show) -> float:
    """Events/s of runners (one per view, one event loop) from assignment until each applied `events`."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    letters = DeadLetters(Producer({"bootstrap.servers": servers.kafka_bootstrap_servers}), codec.routing.prefix)
    url, bootstrap = servers.redis_url, servers.kafka_bootstrap_servers
    runners = [Timed(view, codec, url, bootstrap, letters, prefix=prefix, batch=BATCH) for view in views]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    try:
        while (applied := min(r.applied for r in runners)) < events:
            for task in tasks:
                if task.done():
                    task.result()  # a runner that died: say why
            show(f"{applied:,}/{events:,} applied")
            await asyncio.sleep(0.002)
        return events / (time.perf_counter() - min(r.assigned for r in runners))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        drop_keys(url, prefix)


def project(views: list[View], codec: EventCodec, servers: Endpoints, events: int, show: Show) -> float:
    return asyncio.run(ours(views, codec, servers, events, show))


def queue(send: Callable[..., object], op: Op) -> None:
    """A view operation as plain commands; our two Lua ones in their naive form (no version or bit check)."""
    name, *args = op
    if name == "IFNEWER":  # key version index field value ...; the views here use no status index
        key, version, _index, *fields = args
        send("HSET", key, "_version", version, *fields)
    elif name == "INORDER":  # order version pending legacy command ...: the events here come in order
        send("SETBIT", args[0], args[1], 1)
        if args[4:]:
            queue(send, args[4:])
    else:
        send(name, *args)


def fold_one(client: redis.Redis, view: View, codec: EventCodec, keys: Keys, item: Incoming) -> None:
    """The peer's step: decode, fold, and one MULTI/EXEC with the view change, the bit, position and offset."""
    name, record = codec.read(item.value)
    meta = record["meta"]
    with client.pipeline(transaction=True) as pipe:
        for folds in (view.folds, view.live):
            for op in folds[name](record, keys) if name in folds else []:
                queue(pipe.execute_command, op)
        pipe.setbit(keys("applied", meta["stream_id"]), meta["stream_version"], 1)
        pipe.hset(keys("positions"), meta["stream_id"], item.position)
        pipe.hset(keys("offsets"), f"{item.topic}:{item.partition}", item.offset + 1)
        pipe.execute()


def peer(view: View, codec: EventCodec, servers: Endpoints, events: int, show: Show) -> float:
    """Events/s of a plain consumer loop (sync redis-py) applying each event in a MULTI/EXEC of its own."""
    keys = Keys(f"bench:{uuid.uuid4().hex[:8]}:", view.name)
    client = redis.Redis.from_url(servers.redis_url)
    config = {"bootstrap.servers": servers.kafka_bootstrap_servers, "group.id": "bench", "enable.auto.commit": False}
    consumer = Consumer(config)
    topics = consumer.list_topics(timeout=10).topics
    found = [codec.routing.prefix + t for t in view.topics]
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in found for p in topics[t].partitions])
    began, done = time.perf_counter(), 0
    try:
        while done < events:
            for m in consumer.consume(min(BATCH, events - done), 0.1):
                if not m.error():
                    fold_one(client, view, codec, keys, Incoming.from_message(m))
                    done += 1
            show(f"{done:,}/{events:,} applied")
        return done / (time.perf_counter() - began)
    finally:
        consumer.close()
        client.close()
        drop_keys(servers.redis_url, keys.prefix)


def updater(status: Status, label: str) -> Show:
    """A `show` that puts progress text after `label` on the status line."""
    return lambda text: status.update(f"{label}: {text}")


def alternate(
    rounds: int, sides: Mapping[str, Callable[[Show], float]], shown: str, redis_url: str
) -> dict[str, list[float]]:
    """Per-round rates of each side, run alternately (order flipped every round) as bench.common.interleaved does,
    each after `gc.collect()`, `gc.freeze()` and `compact_aof`; each side times itself, so its setup stays off
    the clock, and reports its progress to `show`."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(rounds):
        for name in list(sides) if round_ % 2 == 0 else list(sides)[::-1]:
            gc.collect()
            gc.freeze()  # as `agentlog projections run` does: what the process holds is not walked again
            compact_aof(redis_url)
            label = f"{shown}: round {round_ + 1}/{rounds}, {name}"
            with out.status(label) as status:
                rates[name].append(sides[name](updater(status, label)))
        figures = ", ".join(f"{name} {r[-1]:,.0f}/s" for name, r in rates.items())
        out.print(f"[dim]· {shown}, round {round_ + 1}: {figures}[/dim]")
    return rates


def measure(codec: EventCodec, servers: Endpoints, events: int, peer_events: int, rounds: int) -> list[Result]:
    """Each view alone against the peer, then both views together (no peer)."""
    results = []
    for name in ("sessions", "transcript"):
        view = VIEWS[name]
        with out.status(f"{name}: warming up") as status:
            project([view], codec, servers, min(events, 10_000), status.update)
            peer(view, codec, servers, min(peer_events, 2000), status.update)
        sides = {
            "ours": partial(project, [view], codec, servers, events),
            "peer": partial(peer, view, codec, servers, peer_events),
        }
        rates = alternate(rounds, sides, name, servers.redis_url)
        params = {"events": events, "peer_events": peer_events, "rounds": rounds, "batch": BATCH}
        results.append(
            Result(f"project {name}", median(rates["ours"]), "events/s", True, PEER, median(rates["peer"]), params)
        )
    both = [VIEWS["sessions"], VIEWS["transcript"]]
    rates = alternate(rounds, {"ours": partial(project, both, codec, servers, events)}, "both views", servers.redis_url)
    together = {"events": events, "rounds": rounds, "batch": BATCH, "views": "sessions+transcript"}
    results.append(Result("project sessions+transcript", median(rates["ours"]), "events/s", True, params=together))
    return results


def main(
    events: Annotated[int, typer.Option(help="events on the topics, each round projects them all")] = 200_000,
    sessions: Annotated[int, typer.Option(help="sessions the events are spread over")] = 2000,
    rounds: Annotated[int, typer.Option(help="interleaved rounds, each into a fresh Redis prefix; median")] = 5,
    peer_events: Annotated[int, typer.Option(help="events the (slow) peer folds per round")] = 20_000,
    partitions: Annotated[int, typer.Option(help="partitions of each topic")] = 3,
) -> None:
    """Projection throughput from Kafka into Redis, per view and both together, vs a per-event MULTI/EXEC fold."""
    servers = endpoints()
    with scratch(servers, partitions) as codec:
        with out.status(f"encoding and producing {events:,} events over {sessions:,} sessions"):
            produce(servers.kafka_bootstrap_servers, mix(codec, events, sessions))  # not kept: no GC load
        results = measure(codec, servers, events, min(peer_events, events), rounds)
    write_results("projection", results)


if __name__ == "__main__":
    typer.run(main)
