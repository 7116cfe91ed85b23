"""Fold events into a view without servers: the Avro record as `EventCodec.read` gives it, and the view's
operations applied to a plain-Python picture of Redis.

The picture follows `projections/apply.py`'s script (IFNEWER, INORDER, the per-stream dedupe) and the few
Redis commands the folds use; `tests/integration/test_projections_fold_model.py` checks, on a real
Redis, that both give the same state for the same events.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from contracts.codec import Record, as_written
from contracts.convert import to_record
from contracts.schemas import event_contracts
from domain.events import DomainEvent, EventMetadata, RecordedEvent
from projections.views import Keys, View

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
State = dict[str, Any]  # key -> dict (hash), {member: score} (zset), set, list of dicts (stream), set of bits


@cache
def _schemas(name: str) -> tuple[Any, Any]:
    schema = event_contracts()[name].schema
    return parse_schema(schema), parse_schema(as_written(schema))


def as_read(recorded: RecordedEvent) -> tuple[str, Record]:
    """The event's contract name and its record as `EventCodec.read` gives it (an Avro round trip)."""
    name = recorded.event.type_name()
    full, plain = _schemas(name)
    body = io.BytesIO()
    schemaless_writer(body, full, to_record(recorded))
    body.seek(0)
    record = schemaless_reader(body, plain, None)
    assert isinstance(record, dict)
    return name, record


def recorded(event: DomainEvent, stream: object, version: int, tenant: str = "acme", minute: int = 0) -> RecordedEvent:
    """`event` as the write side records it: at `version` of `stream`, `minute` minutes after T0."""
    meta = EventMetadata(
        event_id=uuid.uuid4(),
        stream_id=str(stream),
        stream_type="test",
        stream_version=version,
        tenant_id=tenant,
        occurred_at=T0 + timedelta(minutes=minute),
        correlation_id=uuid.uuid4(),
    )
    return RecordedEvent(meta=meta, event=event)


def millis(minute: int) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp() * 1000)


@dataclass
class Folded:
    """A view's state after folding events, as Redis would hold it (values as text, like Redis's)."""

    view: View
    keys: Keys
    live: bool = True
    state: State = field(default_factory=dict)
    applied: set[tuple[str, int]] = field(default_factory=set)

    def fold(self, events: Iterable[RecordedEvent]) -> Folded:
        """Apply each event once (a redelivery changes nothing), as the projector and its script do."""
        for event in events:
            name, record = as_read(event)
            meta = record["meta"]
            if (meta["stream_id"], meta["stream_version"]) in self.applied:
                continue
            self.applied.add((meta["stream_id"], meta["stream_version"]))
            ops = list(fold(record, self.keys)) if (fold := self.view.folds.get(name)) else []
            if self.live and (live := self.view.live.get(name)):
                ops += live(record, self.keys)
            for op in ops:
                run(self.state, [_text(part) for part in op])
        return self

    def __call__(self, *parts: object) -> Any:
        """The value at the view's key `parts` (None when absent)."""
        return self.state.get(self.keys(*parts))

    def shared(self, *parts: object) -> Any:
        return self.state.get(self.keys.shared(*parts))


def _text(part: object) -> str:
    return part if isinstance(part, str) else str(part)  # what Redis stores for a Lua number


def run(state: State, op: list[str]) -> None:
    """One operation, as the script runs it."""
    name, key, args = op[0], op[1], op[2:]
    if name == "IFNEWER":
        _ifnewer(state, key, int(args[0]), args[1], args[2:])
    elif name == "INORDER":  # key version pending legacy command...
        _inorder(state, key, int(args[0]), args[1], args[2], list(args[3:]))
    elif name == "HSET":
        state.setdefault(key, {}).update(zip(args[::2], args[1::2], strict=True))
    elif name == "HSETNX":
        state.setdefault(key, {}).setdefault(args[0], args[1])
    elif name == "HINCRBY":
        hash_ = state.setdefault(key, {})
        hash_[args[0]] = str(int(hash_.get(args[0], "0")) + int(args[1]))
    elif name == "ZADD":
        _zadd(state.setdefault(key, {}), args)
    elif name == "SADD":
        state.setdefault(key, set()).update(args)
    elif name == "SREM":
        state.setdefault(key, set()).difference_update(args)
    elif name == "DEL":
        state.pop(key, None)
    elif name == "XADD":  # MAXLEN ~ n * field value ...
        state.setdefault(key, []).append(dict(zip(args[4::2], args[5::2], strict=True)))
    else:
        raise AssertionError(f"the model does not know {name}")
    for k in [k for k, v in state.items() if not v]:  # Redis drops empty hashes, sets and sorted sets
        del state[k]


def _inorder(state: State, order: str, version: int, pending: str, legacy: str, command: list[str]) -> None:
    """Run `command` once, after every earlier version of the stream (see INORDER in projections/apply.py)."""
    done = state.setdefault(order, set())
    if version in done:
        return
    if 0 not in done and legacy in state:
        done.update(range(version))
    done.add(0)
    if min(set(range(max(done) + 2)) - done) != version:  # an earlier version has not come yet
        state.setdefault(pending, {})[str(version)] = command
        return
    kept: list[str] | None = command
    while kept is not None:
        if kept:
            run(state, kept)
        done.add(version)
        version += 1
        kept = state.get(pending, {}).pop(str(version), None)
    if not state.get(pending):
        state.pop(pending, None)


def _zadd(zset: dict[str, float], args: list[str]) -> None:
    greater = args[0] == "GT"
    score, member = float(args[1 if greater else 0]), args[2 if greater else 1]
    if not greater or score > zset.get(member, float("-inf")):
        zset[member] = score


def _ifnewer(state: State, key: str, version: int, index: str, fields: list[str]) -> None:
    hash_ = state.setdefault(key, {})
    if version <= int(hash_.get("_version", "0")):
        return
    old = hash_.get("status")
    hash_.update({"_version": str(version), **dict(zip(fields[::2], fields[1::2], strict=True))})
    new = hash_.get("status")
    if index and new and old != new:
        member = key.rsplit(":", 1)[1]
        if old:
            state.setdefault(index + old, set()).discard(member)
        state.setdefault(index + new, set()).add(member)
