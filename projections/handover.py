"""Partitions moving between a view's processes: each starts where the view stands, none is read twice at once.

Every process running a view joins the view's consumer group, and Kafka shares the view's partitions
among them (cooperative-sticky: a rebalance moves only the partitions that change owner; the others
keep being read). Kafka's group offsets are never committed: the view's position is the offsets hash
in Redis, written by the same atomic step as each change, so no commit can race a revoke or run
ahead of the view. A partition that arrives starts at the offset Redis holds for it. A partition
that leaves in a rebalance first lets the batches in flight land, so its next owner starts past them.
A partition lost (this process missed its session) or taken by SIGKILL is abandoned: what was in
flight lands or not, and what the next owner reads again is a no-op (the per-stream applied bitmap).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from projections.pipeline import Incoming

log = logging.getLogger("agentlog.projections")

T = TypeVar("T")
WAIT = 60.0  # seconds a revoke waits for the batches in flight before abandoning them (still safe, just slower)


def at_stored_offsets(partitions: list[TopicPartition], stored: Mapping[Any, Any]) -> list[TopicPartition]:
    """The partitions, each set to the next offset the view recorded for it (else the beginning)."""
    for tp in partitions:
        offset = stored.get(f"{tp.topic}:{tp.partition}".encode())
        tp.offset = int(offset) if offset is not None else OFFSET_BEGINNING
    return partitions


def owned(consumer: Consumer, batch: list[Incoming]) -> list[Incoming]:
    """The batch without the records of partitions this process gave up while fetching it: their next owner
    reads them from the view's stored offsets. The consumer's assignment is the truth, not a copy of it."""
    if not batch:
        return batch
    mine = {(tp.topic, tp.partition) for tp in consumer.assignment()}
    return [item for item in batch if (item.topic, item.partition) in mine]


def names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)) or "none"


class Handover:
    """The rebalance callbacks of one view's consumer. They run in the thread that polls it while the runner's event
    loop waits for that thread, so they do their Redis work on that loop: `stored` reads the view's offsets hash,
    `settle` lands what is in flight. Build it on the loop (in the runner's `run`)."""

    def __init__(
        self,
        view: str,
        stored: Callable[[], Coroutine[Any, Any, Mapping[Any, Any]]],
        settle: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self.view = view
        self.stored = stored
        self.settle = settle
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.held = 0  # partitions assigned (for the log: the consumer cannot be asked while it closes)

    def subscribe(self, consumer: Consumer, topics: list[str]) -> None:
        consumer.subscribe(topics, on_assign=self.assigned, on_revoke=self.revoked, on_lost=self.lost)

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition at the view's stored offset. Should Redis not answer, they are assigned at the
        beginning and the error leaves the poll: the runner rewinds them to the stored offsets once it can."""
        if not partitions:
            return
        stored: Mapping[Any, Any] = {}
        try:
            stored = self._on_loop(self.stored())
        finally:
            consumer.incremental_assign(at_stored_offsets(partitions, stored))
            self.held += len(partitions)
            log.info("%s: assigned %s (%d now)", self.view, names(partitions), self.held)

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Let the batches in flight land (their offsets with them), then give the partitions up, whatever happens:
        an error leaves the poll (the runner rewinds), and the next owner redoes what did not land."""
        if partitions:
            try:
                self._on_loop(self.settle())
            finally:
                consumer.incremental_unassign(partitions)
                self.held -= len(partitions)
                log.info("%s: revoked %s (%d left)", self.view, names(partitions), self.held)

    def lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Another process may own them already: abandon them without waiting (a redelivery is a no-op)."""
        consumer.incremental_unassign(partitions)
        self.held -= len(partitions)
        log.warning("%s: lost %s (its session expired); another process reads them", self.view, names(partitions))

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the runner's loop and wait (WAIT s at most: then it is cancelled, TimeoutError)."""
        if threading.get_ident() == self.loop_thread:  # waiting here would block the loop it waits for
            coroutine.close()
            raise RuntimeError("a rebalance callback ran on the event loop: poll the consumer in a thread")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(WAIT)
        except TimeoutError:
            future.cancel()
            raise
