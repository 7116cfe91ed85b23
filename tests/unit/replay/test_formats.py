"""The export formats' pure parts: Avro longs and the envelope schema, Arrow types, redaction rules."""

from __future__ import annotations

import io
import json

import avro.schema
import pyarrow as pa
import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from contracts.schemas import event_contracts
from replay.avro_file import ContainerWriter, envelope, long_bytes
from replay.parquet import arrow_type, table_schema
from replay.redact import MASK, UnknownField, fields_to_redact, redact

CONTRACTS = {name: c.schema for name, c in event_contracts().items()}


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_a_long_is_encoded_as_avro_encodes_it(n):
    expected = io.BytesIO()
    schemaless_writer(expected, "long", n)
    assert long_bytes(n) == expected.getvalue()


def test_the_envelope_defines_each_named_type_once_so_the_reference_library_parses_it():
    schema = envelope(CONTRACTS)
    parsed = avro.schema.parse(json.dumps(schema))  # the Apache library refuses a type defined twice
    union = parsed.fields[3].type  # type: ignore[attr-defined]
    assert [branch.fullname for branch in union.schemas] == list(CONTRACTS)
    assert json.dumps(schema).count('"name": "agentlog.common.EventMetadata"') == 1


def test_an_unknown_avro_codec_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="unknown Avro codec 'zstd': one of null, deflate"):
        ContainerWriter(io.BytesIO(), envelope(CONTRACTS), "zstd")


@pytest.mark.parametrize(
    ("avro_type", "arrow"),
    [
        ({"type": "long", "logicalType": "timestamp-millis"}, pa.timestamp("ms", tz="UTC")),
        ({"type": "int", "logicalType": "date"}, pa.date32()),
        ({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}, pa.decimal128(12, 4)),
        ({"type": "string", "logicalType": "uuid"}, pa.string()),
        ({"type": "enum", "name": "Role", "symbols": ["user"]}, pa.string()),
        ({"type": "map", "values": "string"}, pa.map_(pa.string(), pa.string())),
        ({"type": "array", "items": "long"}, pa.list_(pa.int64())),
        (["null", "double"], pa.float64()),
    ],
)
def test_avro_types_map_to_arrow_types(avro_type, arrow):
    assert arrow_type(avro_type) == arrow


def test_every_contract_has_a_table_schema_with_position_and_recorded_at_first():
    for name, schema in CONTRACTS.items():
        table = table_schema(schema)
        assert table.names[:3] == ["position", "recorded_at", "meta"], name


def test_redaction_masks_every_text_under_the_fields_and_keeps_numbers_and_keys():
    record = {"text": "hi", "attachments": [{"name": "a", "size_bytes": 3}], "metadata": {"k": "v"}, "role": "user"}
    assert redact(record, frozenset({"text", "attachments", "metadata"})) == {
        "text": MASK, "attachments": [{"name": MASK, "size_bytes": 3}], "metadata": {"k": MASK}, "role": "user",
    }  # fmt: skip


def test_fields_to_redact_are_found_per_event_type_and_bad_ones_named():
    found = fields_to_redact(["text", " error "], CONTRACTS)
    assert found["agentlog.session.MessagePosted"] == {"text"}
    assert found["agentlog.tool.ToolFailed"] == {"error"}
    assert "agentlog.budget.BudgetLimitSet" not in found
    with pytest.raises(UnknownField, match="no selected event type has a field 'nope'"):
        fields_to_redact(["nope"], CONTRACTS)
    for field in ("role", "session_id", "meta", "duration_ms"):
        with pytest.raises(UnknownField):
            fields_to_redact([field], CONTRACTS)
