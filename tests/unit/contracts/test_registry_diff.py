"""What `agentlog contracts diff` and `check` print, computed without a registry: field-level changes and verdicts."""

from __future__ import annotations

import pytest

from contracts.registry import SubjectReport, describe, diff

ATTACHMENT = {"type": "record", "name": "agentlog.session.Attachment", "fields": [{"name": "url", "type": "string"}]}
OLD = {
    "type": "record",
    "name": "Example",
    "namespace": "agentlog.test",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "who"},
        {"name": "count", "type": "int", "default": 0},
        {"name": "gone", "type": "string"},
        {"name": "files", "type": {"type": "array", "items": ATTACHMENT}},
    ],
}
NEW = {
    "type": "record",
    "name": "Example",
    "namespace": "agentlog.test",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "who it is"},
        {"name": "count", "type": "long", "default": 1},
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "files",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "agentlog.session.Attachment",
                    "fields": [{"name": "url", "type": "string"}, {"name": "size", "type": "long", "default": 0}],
                },
            },
        },
    ],
}


def test_diff_lists_added_removed_and_changed_fields_nested_ones_by_their_path():
    assert diff(OLD, NEW) == [
        "+ note: null | string = null",
        "+ files.size: long = 0",
        "- gone: string",
        '~ id (doc): "who" -> "who it is"',
        "~ count: int = 0 -> long = 1",
    ]


def test_a_schema_compared_with_itself_has_no_differences():
    assert diff(OLD, OLD) == []


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("string", "string"),
        ("agentlog.common.EventMetadata", "EventMetadata"),
        (["null", "agentlog.session.Attachment"], "null | Attachment"),
        ({"type": "string", "logicalType": "uuid"}, "string(uuid)"),
        ({"type": "array", "items": ATTACHMENT}, "array<Attachment>"),
        ({"type": "map", "values": "string"}, "map<string>"),
        ({"type": "enum", "name": "agentlog.session.Role", "symbols": ["user"]}, "Role"),
        ({"type": "fixed", "name": "Hash", "size": 32}, "Hash"),
        ({"type": "long"}, "long"),
    ],
)
def test_types_are_described_in_short(kind, text):
    assert describe(kind) == text


def test_records_inside_maps_and_unions_are_flattened_too():
    inner = {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]}
    old = {"type": "record", "name": "R", "fields": [{"name": "m", "type": {"type": "map", "values": inner}}]}
    new = {"type": "record", "name": "R", "fields": [{"name": "m", "type": ["null", inner]}]}
    assert diff(old, new) == ["~ m: map<Inner> -> null | Inner"]
    assert diff({"type": "record", "name": "R", "fields": []}, new) == ["+ m: null | Inner", "+ m.x: int"]


@pytest.mark.parametrize(
    ("report", "verdict", "ok"),
    [
        (SubjectReport("s", "E", "BACKWARD", registered=[]), "new", True),
        (SubjectReport("s", "E", "BACKWARD", registered=[1, 2], same_as=2), "registered (v2)", True),
        (SubjectReport("s", "E", "BACKWARD", registered=[1]), "compatible, not registered", True),
        (SubjectReport("s", "E", "BACKWARD", registered=[1], problems=["x removed"]), "incompatible", False),
    ],
)
def test_a_subjects_verdict(report, verdict, ok):
    assert (report.verdict, report.ok) == (verdict, ok)
