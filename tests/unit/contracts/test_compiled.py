"""The generated writers and readers (contracts/compiled.py) against fastavro: the same bytes, the same events.

Every contract is generated; for valid records of each, the generated writer writes exactly the bytes
fastavro writes for `to_record` of the event, and the generated reader builds exactly what
`from_record` builds from fastavro's reading. Values the validator would refuse are refused.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from uuid import uuid4

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.codec import as_written
from contracts.compiled import Compiled, Refused, compile_contract
from contracts.convert import from_record, to_record
from contracts.schemas import event_contracts
from domain.budget.events import TokensConsumed
from domain.catalog import EVENT_TYPES
from domain.events import DomainEvent, EventMetadata, RecordedEvent
from domain.session.events import Attachment, MessagePosted, Role
from tests.support.avro_strategies import records

CONTRACTS = event_contracts()
NAMES = sorted(CONTRACTS)
RECORDS = {name: records(CONTRACTS[name].schema) for name in NAMES}
META_SCHEMA = CONTRACTS["agentlog.session.MessagePosted"].schema["fields"][0]["type"]  # inlined, as registered
NOT_WRITTEN = (Refused, TypeError, ValueError, AttributeError, OverflowError)


@functools.cache
def _compiled(name: str) -> Compiled:
    """The contract's generated functions, made in the test that first needs them (not at import: the mutation
    run activates each mutant only once tests run)."""
    compiled = compile_contract(CONTRACTS[name].schema, EVENT_TYPES[name])
    assert compiled is not None, f"{name} is not generated"
    return compiled


def _fastavro_bytes(name: str, recorded: RecordedEvent) -> bytes:
    body = BytesIO()
    schemaless_writer(body, parse_schema(CONTRACTS[name].schema), to_record(recorded))
    return body.getvalue()


def _written(compiled: Compiled, recorded: RecordedEvent) -> bytes:
    out = bytearray()
    compiled.write(recorded, out)
    return bytes(out)


def test_every_contract_is_generated():
    assert [name for name in NAMES if compile_contract(CONTRACTS[name].schema, EVENT_TYPES[name]) is None] == []


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_the_same_bytes_as_fastavro_and_the_same_event_back(name: str, data: st.DataObject):
    record = data.draw(RECORDS[name], label="record")
    recorded = from_record(EVENT_TYPES[name], record)
    expected = _fastavro_bytes(name, recorded)

    assert _written(_compiled(name), recorded) == expected
    read = schemaless_reader(BytesIO(expected), parse_schema(as_written(CONTRACTS[name].schema)), None)
    assert isinstance(read, dict)
    assert _compiled(name).read(b"head" + expected, 4) == from_record(EVENT_TYPES[name], read) == recorded


def _message(**changes: Any) -> RecordedEvent:
    meta = EventMetadata(
        event_id=uuid4(),
        stream_id="s-1",
        stream_type="session",
        stream_version=1,
        tenant_id="acme",
        occurred_at=datetime(2026, 12, 3, 9, 30, 1, 123000, tzinfo=UTC),
        correlation_id=uuid4(),
    )
    event = MessagePosted(
        session_id=uuid4(),
        message_id=uuid4(),
        role=Role.USER,
        text="hello",
        attachments=(Attachment(name="a", media_type="text/plain", url="https://x.example", size_bytes=3),),
        metadata={"client": "web"},
    )
    meta_changes = {k: v for k, v in changes.items() if k in {f.name for f in dataclasses.fields(EventMetadata)}}
    event_changes = {k: v for k, v in changes.items() if k not in meta_changes}
    return RecordedEvent(
        meta=dataclasses.replace(meta, **meta_changes), event=dataclasses.replace(event, **event_changes)
    )


WRONG = {
    "text": 5,  # not a string
    "session_id": "not-a-uuid",
    "role": "robot",  # not a symbol
    "attachments": "abc",  # not an array
    "metadata": {"client": 1},  # a map of strings holding an int
    "stream_version": True,  # a bool is no long
    "occurred_at": datetime(2026, 12, 3),  # no time zone
    "correlation_id": None,  # not nullable
}


@pytest.mark.parametrize(("field", "wrong"), WRONG.items(), ids=list(WRONG))
def test_a_value_the_schema_does_not_accept_is_not_written(field: str, wrong: Any):
    with pytest.raises(NOT_WRITTEN):
        _written(_compiled("agentlog.session.MessagePosted"), _message(**{field: wrong}))


@pytest.mark.parametrize(
    "cost", [Decimal("NaN"), Decimal("1E-7"), Decimal(10**13), 1.5], ids=["nan", "too-fine", "too-large", "float"]
)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_a_decimal_outside_its_precision_and_scale_is_not_written(cost: Any, data: st.DataObject):
    name = "agentlog.budget.TokensConsumed"
    recorded = from_record(EVENT_TYPES[name], data.draw(RECORDS[name]))
    assert isinstance(recorded.event, TokensConsumed)
    wrong = RecordedEvent(meta=recorded.meta, event=dataclasses.replace(recorded.event, cost_usd=cost))
    with pytest.raises(NOT_WRITTEN):
        _written(_compiled(name), wrong)


@pytest.mark.parametrize("cost", ["1.5", "-2", "0", "0.000001", "123456789012.5"])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_a_decimal_with_fewer_places_than_its_scale_is_written_scaled_and_read_at_its_scale(
    cost: str, data: st.DataObject
):
    name = "agentlog.budget.TokensConsumed"
    recorded = from_record(EVENT_TYPES[name], data.draw(RECORDS[name]))
    assert isinstance(recorded.event, TokensConsumed)
    priced = RecordedEvent(meta=recorded.meta, event=dataclasses.replace(recorded.event, cost_usd=Decimal(cost)))
    written = _written(_compiled(name), priced)
    assert written == _fastavro_bytes(name, priced)
    read = _compiled(name).read(written, 0).event
    assert isinstance(read, TokensConsumed) and read.cost_usd is not None
    assert (read.cost_usd, read.cost_usd.as_tuple().exponent) == (Decimal(cost), -6)


@dataclass(frozen=True, kw_only=True)
class Tagged(DomainEvent):
    aggregate = "test"
    tags: tuple[str, ...]
    when: date | None = None


def _schema(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Tagged",
        "namespace": "test",
        "fields": [{"name": "meta", "type": META_SCHEMA}, *fields],
    }


def test_arrays_written_in_blocks_with_their_sizes_are_read():
    schema = _schema(
        [
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "when", "type": ["null", {"type": "int", "logicalType": "date"}]},
        ]
    )
    compiled = compile_contract(schema, Tagged)
    assert compiled is not None
    recorded = RecordedEvent(meta=_message().meta, event=Tagged(tags=("a", "bc"), when=date(2026, 12, 3)))
    plain = _written(compiled, recorded)
    meta = BytesIO()
    schemaless_writer(meta, parse_schema(META_SCHEMA), to_record(recorded)["meta"])
    # two blocks, each a negative count followed by its size in bytes, as other Avro writers may write
    tail = plain[len(meta.getvalue()) :]
    blocks = bytes([1, 4, 2]) + b"a" + bytes([1, 6, 4]) + b"bc" + bytes([0]) + tail[-4:]
    assert tail[:-4] == bytes([4, 2]) + b"a" + bytes([4]) + b"bc" + bytes([0])
    assert compiled.read(meta.getvalue() + blocks, 0) == recorded


@pytest.mark.parametrize(
    "field",
    [
        {"name": "tags", "type": ["null", "string", "long"]},  # a union of more than null and one type
        {"name": "tags", "type": {"type": "fixed", "name": "F", "size": 2}},
        {"name": "other", "type": "string"},  # a field the dataclass lacks
    ],
    ids=["union", "fixed", "fields-differ"],
)
def test_what_is_not_covered_is_left_to_fastavro(field: dict[str, Any]):
    schema = _schema([field, {"name": "when", "type": ["null", {"type": "int", "logicalType": "date"}]}])
    assert compile_contract(schema, Tagged) is None
