"""The relay: publishes every committed event to Kafka, in stream order, exactly once, never skipping.

Gap safety. Positions come from an identity sequence, so concurrent transactions commit out of
position order: position 11 can be visible while position 10 is still uncommitted (and
invisible). A relay that checkpointed "up to 11" would skip 10 forever. Each row therefore
records its transaction id (`txid`, xid8), and the relay only reads rows whose transaction is
older than the oldest transaction still running, `pg_snapshot_xmin(pg_current_snapshot())`.
Every transaction below that horizon has finished, so the set of such rows can never grow: the
relay walks it in (txid, position) order and checkpoints (txid, position). A late commit is
simply published when the horizon passes it.

Stream order. A command loads its stream before its transaction writes anything, so an append
at version n+1 gets its txid after version n committed: (txid, position) order is version order
within every stream. The Kafka key is the stream id, so one partition keeps that order.

Exactly once. Records go out through the idempotent producer (`acks=all`) with no local
timeout: while Kafka is away the relay waits for its batch rather than producing it again, so
a live relay never writes a record twice. The checkpoint is stored only after Kafka confirmed
the whole batch, and the next batch is read only after the checkpoint is stored, so a relay
that died (SIGKILL) can have published at most one batch past its checkpoint. A relay that
starts therefore first reads the tail of the partitions its first batch goes to and leaves out
the events already there (each record carries its txid and position in headers).

Outages. A broken connection, a restarting Postgres or an unreachable Kafka is retried with
backoff (stamina) from the checkpoint, on a fresh listening connection; LISTEN/NOTIFY wakes the
relay as soon as events are appended, polling is the fallback.

High availability. Any number of relays of one name may run (on one machine or several): one is
active, the one whose listening connection holds the Postgres advisory lock of the relay's name
and schema; the others stand by, trying for the lock every `standby_interval`. A relay killed
(SIGKILL, a lost machine) loses its connection, so Postgres frees the lock and a standby takes
over within that interval, from the shared checkpoint, first leaving out what the dead relay
published past it (the same look at the partition tails as a restart). A relay whose connection
breaks while it lives stops publishing at once: it drops the records it has not sent yet and
stands by again; only records already in flight to a broker at that moment could reach Kafka twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import asyncpg
import stamina
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from eventstore.errors import POSTGRES_OUTAGES, postgres_unavailable
from eventstore.metrics import ACTIVE, PUBLISHED
from eventstore.queries import RELAY_CHECKPOINT
from eventstore.store import CHANNEL_OF_SCHEMA
from observability import tracing

log = logging.getLogger("agentlog.relay")
HELD_LOOK = 0.005  # seconds: the first look again at events held behind an older transaction

# Whether committed events wait at or above the horizon, held by a transaction older than theirs that still runs
# (the relay then looks again soon rather than at the next NOTIFY or poll). Every row the relay has not published
# is above its checkpoint, and its checkpoint below the horizon; pg_current_snapshot() is the statement's one.
_HELD = """(SELECT h.txid FROM events h WHERE h.txid >= pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY h.txid LIMIT 1) IS NOT NULL AS held"""
# ORDER BY names the table's columns: an output alias `txid` (as text) would sort as text,
# putting 1000000 before 999999 and defeating the (txid, position) index.
_BATCH = f"""
SELECT e.txid::text AS txid_text, e.position, e.topic, e.stream_id, e.event_type, e.event_id, e.payload,
       e.tenant_id, e.traceparent, {_HELD}
FROM events e
WHERE (e.txid, e.position) > ($1::text::xid8, $2) AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.txid, e.position
LIMIT $3
"""
# One active relay per name and schema: a session lock, held by the relay's listening connection.
_LEAD = "SELECT pg_try_advisory_lock(hashtextextended('agentlog.relay:' || current_schema() || ':' || $1, 0))"
_SAVE = (
    "INSERT INTO relay_checkpoints (relay, txid, position) VALUES ($1, $2::text::xid8, $3) "
    "ON CONFLICT (relay) DO UPDATE SET txid = EXCLUDED.txid, position = EXCLUDED.position, updated_at = now()"
)


@dataclass(frozen=True)
class Checkpoint:
    """The last event Kafka confirmed, as its (txid, position)."""

    txid: str = "0"
    position: int = 0

    def before(self, txid: str, position: int) -> bool:
        """True when the event at (txid, position) comes after this checkpoint."""
        return (int(txid), position) > (int(self.txid), self.position)


class ListenerLost(Exception):
    """The connection LISTENing for appends closed; the relay listens again on a new one."""


class LeadershipLost(ListenerLost):
    """The connection holding the relay's lock closed: another relay may be active now."""


class Stopped(Exception):
    """The relay was asked to stop while Kafka had not confirmed its batch (it is published again on start)."""


def _retryable(e: Exception) -> bool:
    """Outages the relay waits out: Postgres or Kafka unreachable, restarting or shutting down."""
    return postgres_unavailable(e) or isinstance(e, KafkaException | ListenerLost)


class Relay:
    """Tails the event store of one Postgres schema and publishes to Kafka."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        name: str = "main",
        batch_size: int = 5000,
        poll_interval: float = 0.5,
        standby_interval: float = 0.5,
        producer_config: Mapping[str, str | int | bool] | None = None,
    ) -> None:
        self.pool = pool
        self.bootstrap_servers = bootstrap_servers
        self.producer = Producer({**self.producer_config(bootstrap_servers), **(producer_config or {})})
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.published = 0
        self.skipped = 0  # events found already on Kafka when the relay started
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._done: Checkpoint | None = None  # what Kafka confirmed, when Postgres has not stored it yet
        self._at: Checkpoint | None = None  # the stored checkpoint as this relay last read or wrote it
        self._first_batch = True
        self._holding: asyncpg.Connection | None = None  # the connection that holds the lock while active
        self._held = False  # the last read saw committed events wait behind an older transaction
        self._look_again = 0.0  # how soon to read again while they wait: doubles up to the poll interval

    @property
    def active(self) -> bool:
        """Whether this relay holds the lock of its name: it publishes (else it stands by)."""
        return self._holding is not None

    @staticmethod
    def producer_config(bootstrap_servers: str) -> dict[str, str | int | bool]:
        return {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,  # never give a record up: a retried batch would publish it twice
            "linger.ms": 5,
            "compression.type": "lz4",
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
        }

    def _db(self) -> asyncpg.Connection | asyncpg.Pool:
        """Where the relay's queries go: the connection holding its lock while active (no pool hand-over, and no
        reset of a pooled connection after every query), else the pool (`publish_batch` called directly)."""
        return self._holding or self.pool

    async def checkpoint(self) -> Checkpoint:
        row = await self._db().fetchrow(RELAY_CHECKPOINT, self.name)
        return Checkpoint(row["txid"], row["position"]) if row else Checkpoint()

    async def publish_batch(self) -> int:
        """Publish the next batch of finished events; returns how many (0: nothing to do)."""
        self._check_leadership()
        if self._done is not None:  # Kafka has the last batch: store its checkpoint before reading on
            await self._save(self._done)
        # read once per spell as the active relay (only the lock holder writes it), then known
        start = self._at = self._at or await self.checkpoint()
        rows = await self._db().fetch(_BATCH, start.txid, start.position, self.batch_size)
        self._held = rows[0]["held"] if rows else await self._db().fetchval(f"SELECT {_HELD}")
        if not rows:
            return 0
        if self._first_batch:
            there = await asyncio.to_thread(self._already_published, rows, start)
            self.skipped += len(there)
            rows_out = [row for row in rows if str(row["event_id"]) not in there]
        else:
            rows_out = list(rows)
        await self._deliver(rows_out)
        self.published += len(rows_out)  # Kafka has them, whether or not the checkpoint below is stored now
        PUBLISHED.labels(self.name).inc(len(rows_out))
        self._first_batch = False
        self._done = Checkpoint(rows[-1]["txid_text"], rows[-1]["position"])
        await self._save(self._done)
        return len(rows)

    async def _save(self, done: Checkpoint) -> None:
        await self._db().execute(_SAVE, self.name, done.txid, done.position)
        self._done, self._at = None, done

    async def _deliver(self, rows: list[asyncpg.Record]) -> None:
        """Produce the rows and wait until Kafka confirmed every one (however long Kafka is away)."""
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error)

        spans = _PublishSpans(tracing.active())
        for row in rows:
            self._produce(row, delivered, spans.traceparent(row))
        try:
            waited = 0
            while await asyncio.to_thread(self.producer.flush, 1.0):
                waited += 1
                if waited == 5:
                    log.warning(
                        "relay %r: Kafka has not confirmed %d event(s) yet; waiting", self.name, len(self.producer)
                    )
                if self._stop.is_set():
                    raise Stopped
                self._check_leadership()
        finally:
            spans.end(failures)
        if failures:  # a permanent error: what reached Kafka is looked up again before publishing on
            self._first_batch = True
            raise KafkaException(failures[0])

    def _produce(
        self, row: asyncpg.Record, delivered: Callable[[KafkaError | None, Message], None], traceparent: str | None
    ) -> None:
        headers = [
            ("event_type", row["event_type"].encode()),
            ("event_id", str(row["event_id"]).encode()),
            ("position", str(row["position"]).encode()),  # the store's global position: read-your-writes
            ("txid", row["txid_text"].encode()),  # with position: where the relay resumes after a crash
        ]
        if traceparent:  # W3C trace context, as OpenTelemetry's Kafka instrumentations carry it
            headers.append((tracing.TRACEPARENT, traceparent.encode()))
        while True:
            try:
                self.producer.produce(
                    row["topic"],
                    value=row["payload"],
                    key=row["stream_id"].encode(),
                    headers=headers,
                    on_delivery=delivered,
                )
                return
            except BufferError:  # local queue full: let librdkafka send, then retry
                self.producer.poll(0.1)

    def _already_published(self, rows: list[asyncpg.Record], start: Checkpoint) -> set[str]:
        """Ids of the events past `start` already on the partitions `rows` go to.

        A relay that died published at most one batch past its checkpoint, so the last len(rows)
        records of each partition are enough to look at; all partitions are read at once.
        """
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": "agentlog-relay-resume",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 50,  # the tails are there already: no long broker-side waits
            }
        )
        try:
            metadata = consumer.list_topics(timeout=10).topics
            tails: dict[tuple[str, int], int] = {}  # (topic, partition) -> its end offset
            begins: list[TopicPartition] = []
            for topic in {row["topic"] for row in rows}:
                for partition in metadata[topic].partitions if topic in metadata else ():
                    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                    if high > low:
                        tails[(topic, partition)] = high
                        begins.append(TopicPartition(topic, partition, max(low, high - len(rows))))
            return _published_after(consumer, begins, tails, start)
        finally:
            consumer.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, riding out outages of Postgres and Kafka (retried with backoff)."""
        self._stop = stop
        try:
            async for attempt in stamina.retry_context(
                on=_retryable, attempts=None, timeout=None, wait_initial=0.05, wait_max=1.0
            ):
                with attempt:
                    if attempt.num > 1:
                        log.info("relay %r: resuming from the checkpoint (attempt %d)", self.name, attempt.num)
                    await self._follow(stop)
        except Stopped:
            log.info("relay %r stopped with a batch Kafka had not confirmed; it is published again on start", self.name)
        finally:
            await asyncio.to_thread(self.producer.flush, 5)

    async def _follow(self, stop: asyncio.Event) -> None:
        """Stand by until active, then drain and sleep until NOTIFY or the poll interval, on one listening
        connection, which holds the relay's lock."""
        async with self.pool.acquire() as listener:
            if not await self._lead(listener, stop):
                return
            self._at = None  # another relay may have been active meanwhile: read the checkpoint again
            channel = await listener.fetchval(CHANNEL_OF_SCHEMA)
            await listener.add_listener(channel, self._on_notify)
            try:
                while not stop.is_set():
                    # an append notified from now on (during the batch too) ends the idle wait below at once
                    self._wake.clear()
                    published = await self.publish_batch()
                    if published >= self.batch_size:  # a full batch: more may be waiting
                        continue
                    await self._idle(stop, self._next_look(published))
                    if listener.is_closed():
                        raise LeadershipLost
            finally:  # a broken connection has nothing to unlisten (and may already be back in the pool)
                self._resign()
                with contextlib.suppress(asyncpg.InterfaceError, *POSTGRES_OUTAGES):
                    if listener.is_closed():  # lost before asyncpg cleaned it up: the pool would warn of our listener
                        listener.terminate()
                    else:
                        await listener.remove_listener(channel, self._on_notify)
                        await listener.execute("SELECT pg_advisory_unlock_all()")

    async def _lead(self, listener: asyncpg.Connection, stop: asyncio.Event) -> bool:
        """Wait until `listener` holds the relay's lock (True), or until `stop` (False)."""
        waiting = False
        while not await listener.fetchval(_LEAD, self.name):
            if not waiting:
                log.info("relay %r: standing by (another relay of this name is active)", self.name)
                waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.standby_interval)
            if stop.is_set():
                return False
        log.info("relay %r: active", self.name)
        self._holding = listener
        ACTIVE.labels(self.name).set(1)
        self._first_batch = True  # the relay before may have published past the checkpoint
        return True

    def _check_leadership(self) -> None:
        """Stop at once when the lock's connection closed: drop what is not sent yet (it is published again by
        whichever relay is active next, from the checkpoint)."""
        if self._holding is not None and self._holding.is_closed():
            self.producer.purge(in_queue=True)
            self._resign()
            log.warning("relay %r: lost its lock's connection; standing by", self.name)
            raise LeadershipLost

    def _resign(self) -> None:
        self._holding = None
        self._done = None  # its checkpoint is stored, if at all, by the relay that is active next
        ACTIVE.labels(self.name).set(0)

    def _next_look(self, published: int) -> float:
        """Seconds until the relay reads again unwoken: the poll interval, but while committed events wait behind
        an older transaction (theirs NOTIFYed already; another process's, or another database's, holds the
        horizon), HELD_LOOK first, doubling while nothing comes of it."""
        if not self._held:
            self._look_again = 0.0
        elif published or not self._look_again:
            self._look_again = HELD_LOOK
        else:
            self._look_again = min(self._look_again * 2, self.poll_interval)
        return self._look_again or self.poll_interval

    async def _idle(self, stop: asyncio.Event, timeout: float) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waits:
            waiter.cancel()


class _PublishSpans:
    """The `relay.publish` span of each event of a batch that carries a traceparent, a child of it, begun as the
    event is produced and ended once Kafka confirmed the batch; its traceparent goes in the record's headers.
    Without tracing the event's own traceparent goes there (consumers that trace continue it)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.spans: list[tracing.Span] = []

    def traceparent(self, row: asyncpg.Record) -> str | None:
        traceparent: str | None = row["traceparent"]
        if not (self.active and tracing.sampled(traceparent)):  # an unsampled trace records nothing downstream
            return traceparent
        attributes = {  # few: each one costs (the SDK checks every value), and this runs per event
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": row["topic"],
            "agentlog.tenant": row["tenant_id"],
            "agentlog.stream_id": row["stream_id"],
            "agentlog.event_type": row["event_type"],
            "agentlog.position": row["position"],
        }
        span = tracing.start("relay.publish", tracing.context_of(traceparent), tracing.SpanKind.PRODUCER, attributes)
        self.spans.append(span)
        return tracing.traceparent_of(span) or traceparent

    def end(self, failures: list[KafkaError]) -> None:
        for span in self.spans:
            if failures:
                span.set_status(tracing.Status(tracing.StatusCode.ERROR, str(failures[0])))
            span.end()


def _published_after(
    consumer: Consumer, begins: list[TopicPartition], tails: dict[tuple[str, int], int], start: Checkpoint
) -> set[str]:
    """Event ids after `start` among the records from `begins` up to each partition's end in `tails`."""
    consumer.assign(begins)
    left = {(tp.topic, tp.partition): tails[(tp.topic, tp.partition)] - tp.offset for tp in begins}
    found: set[str] = set()
    while any(left.values()):  # ask for exactly what is left: a larger batch would wait out the timeout
        messages = consumer.consume(min(sum(left.values()), 1000), timeout=5.0)
        if not messages:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "reading the tails of the partitions"))
        for message in messages:
            if (error := message.error()) is not None:
                raise KafkaException(error)
            place = (message.topic() or "", message.partition() or 0)
            left[place] = max(0, tails[place] - (message.offset() or 0) - 1)
            pairs = cast("list[tuple[str, bytes | None]]", message.headers() or [])
            headers = {key: _text(value) for key, value in pairs}
            if start.before(headers.get("txid", "0"), int(headers.get("position", "0"))):
                found.add(headers["event_id"])
    return found


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""
