"""The relay: publishes every committed event to Kafka, in stream order, at least once, never skipping.

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

Durability. Records go out through the idempotent producer (`enable.idempotence`, `acks=all`);
the checkpoint is written only after Kafka confirmed the whole batch. A crash in between
republishes the batch on restart (at least once); consumers drop duplicates by event id.
LISTEN/NOTIFY wakes the relay as soon as events are appended; polling is the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventstore.store import CHANNEL

log = logging.getLogger("agentlog.relay")

# ORDER BY names the table's columns: an output alias `txid` (as text) would sort as text,
# putting 1000000 before 999999 and defeating the (txid, position) index.
_BATCH = """
SELECT e.txid::text AS txid_text, e.position, e.topic, e.stream_id, e.event_type, e.event_id, e.payload
FROM events e
WHERE (e.txid, e.position) > ($1::text::xid8, $2) AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.txid, e.position
LIMIT $3
"""


@dataclass(frozen=True)
class Checkpoint:
    """The last event Kafka confirmed, as its (txid, position)."""

    txid: str = "0"
    position: int = 0


class Relay:
    """Tails the event store of one Postgres schema and publishes to Kafka."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: Producer,
        *,
        name: str = "main",
        batch_size: int = 5000,
        poll_interval: float = 0.5,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.published = 0
        self._wake = asyncio.Event()

    @staticmethod
    def producer_config(bootstrap_servers: str) -> dict[str, str | int | bool]:
        return {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
        }

    async def checkpoint(self) -> Checkpoint:
        row = await self.pool.fetchrow(
            "SELECT txid::text AS txid, position FROM relay_checkpoints WHERE relay = $1", self.name
        )
        return Checkpoint(row["txid"], row["position"]) if row else Checkpoint()

    async def publish_batch(self) -> int:
        """Publish the next batch of finished events; returns how many (0: nothing to do)."""
        start = await self.checkpoint()
        rows = await self.pool.fetch(_BATCH, start.txid, start.position, self.batch_size)
        if not rows:
            return 0
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error)

        for row in rows:
            self._produce(row, delivered)
        remaining = await asyncio.to_thread(self.producer.flush, 60)
        if failures or remaining:
            raise KafkaException(failures[0] if failures else KafkaError(KafkaError._MSG_TIMED_OUT))
        last = rows[-1]
        await self.pool.execute(
            "INSERT INTO relay_checkpoints (relay, txid, position) VALUES ($1, $2::text::xid8, $3) "
            "ON CONFLICT (relay) DO UPDATE SET txid = EXCLUDED.txid, position = EXCLUDED.position, updated_at = now()",
            self.name,
            last["txid_text"],
            last["position"],
        )
        self.published += len(rows)
        return len(rows)

    def _produce(self, row: asyncpg.Record, delivered: Callable[[KafkaError | None, Message], None]) -> None:
        headers = [
            ("event_type", row["event_type"].encode()),
            ("event_id", str(row["event_id"]).encode()),
            ("position", str(row["position"]).encode()),  # the store's global position: read-your-writes
        ]
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

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: drain, then sleep until NOTIFY or the poll interval.

        A broken connection (a Postgres restart) is not fatal: the batch is retried from the
        checkpoint and the listening connection is opened again.
        """
        listener: asyncpg.pool.PoolConnectionProxy | None = None
        try:
            while not stop.is_set():
                try:
                    if listener is None or listener.is_closed():
                        listener = await self._listen(listener)
                    if await self.publish_batch():
                        continue
                except (KafkaException, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as e:
                    log.warning("relay batch failed, retrying from the checkpoint: %s", e)
                except asyncpg.exceptions.InternalClientError as e:  # a connection left mid-operation
                    log.warning("relay connection broke, retrying from the checkpoint: %s", e)
                self._wake.clear()
                waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waits:
                    waiter.cancel()
        finally:
            if listener is not None:
                await self._unlisten(listener)
            await asyncio.to_thread(self.producer.flush, 10)

    async def _listen(self, old: asyncpg.pool.PoolConnectionProxy | None) -> asyncpg.pool.PoolConnectionProxy:
        """A connection LISTENing for appends (replacing `old`, whose connection broke)."""
        if old is not None:
            await self._unlisten(old)
        listener = await self.pool.acquire()
        await listener.add_listener(CHANNEL, self._on_notify)
        return listener

    async def _unlisten(self, listener: asyncpg.pool.PoolConnectionProxy) -> None:
        with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
            await listener.remove_listener(CHANNEL, self._on_notify)
        with contextlib.suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
            await self.pool.release(listener)
