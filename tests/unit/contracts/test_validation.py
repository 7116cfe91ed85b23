"""The logical-type checks fastavro leaves to the writer: each problem names `<record>.<field>`, the value and why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from contracts.validation import LogicalField, logical_fields, problems

SCHEMA = {
    "type": "record",
    "name": "Example",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "cost", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}},
        {"name": "plain", "type": "string"},
        {"name": "odd", "type": {"type": "string", "logicalType": "made-up"}},
        {
            "name": "meta",
            "type": {
                "type": "record",
                "name": "Meta",
                "fields": [{"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}}],
            },
        },
    ],
}
FIELDS = list(logical_fields(SCHEMA))
GOOD = {
    "id": uuid4(),
    "day": date(2026, 12, 2),
    "at": datetime(2026, 12, 2, 12, tzinfo=UTC),
    "cost": Decimal("123.45"),
    "plain": "x",
    "odd": "x",
    "meta": {"event_id": str(uuid4())},
}


def test_logical_fields_are_found_in_unions_and_nested_records_and_only_known_kinds():
    assert [path for path, _ in FIELDS] == [("id",), ("day",), ("at",), ("cost",), ("meta", "event_id")]
    assert dict(FIELDS)[("cost",)]["precision"] == 5


def test_a_record_with_right_values_has_no_problems():
    assert problems("Example", FIELDS, GOOD) == []
    assert problems("Example", FIELDS, GOOD | {"day": None}) == []  # nulls are the validator's business


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", "not-a-uuid", "is not a UUID"),
        ("id", 42, "is not a UUID"),
        ("day", datetime(2026, 12, 2, tzinfo=UTC), "is not a date"),
        ("day", "2026-12-02", "is not a date"),
        ("at", datetime(2026, 12, 2, 12), "is not a timezone-aware datetime"),  # naive: the point
        ("at", 1_700_000_000_000, "is not a timezone-aware datetime"),
        ("cost", 1.5, "is not a finite decimal"),
        ("cost", Decimal("NaN"), "is not a finite decimal"),
        ("cost", Decimal("Infinity"), "is not a finite decimal"),
        ("cost", Decimal("1.234"), "has more than 2 decimal places"),
        ("cost", Decimal("1000.00"), "does not fit decimal(5, 2)"),
    ],
)
def test_a_wrong_value_is_named_with_its_field_value_and_reason(field, value, reason):
    assert problems("Example", FIELDS, GOOD | {field: value}) == [f"Example.{field} is <{value!r}>: {reason}"]


def test_a_decimal_without_a_scale_takes_whole_numbers():
    fields: list[LogicalField] = [(("n",), {"type": "bytes", "logicalType": "decimal", "precision": 3})]
    assert problems("Example", fields, {"n": Decimal("999")}) == []
    assert problems("Example", fields, {"n": Decimal("1.5")}) == [
        "Example.n is <Decimal('1.5')>: has more than 0 decimal places"
    ]


def test_the_widest_decimal_that_fits_is_accepted():
    assert problems("Example", FIELDS, GOOD | {"cost": Decimal("999.99")}) == []
    assert problems("Example", FIELDS, GOOD | {"cost": Decimal("-999.9")}) == []


def test_a_nested_field_is_named_by_its_path_and_every_problem_is_reported():
    record = GOOD | {"id": "nope", "meta": {"event_id": "also-nope"}}
    assert problems("Example", FIELDS, record) == [
        "Example.id is <'nope'>: is not a UUID",
        "Example.meta.event_id is <'also-nope'>: is not a UUID",
    ]


def test_a_missing_nested_record_leaves_its_fields_to_the_validator():
    assert problems("Example", FIELDS, GOOD | {"meta": None}) == []
