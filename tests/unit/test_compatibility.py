"""Compatibility levels, checked locally with the avro package (field-level diffs: contracts/test_registry_diff.py)."""

from __future__ import annotations

import json

import pytest

from contracts.compatibility import LEVELS, problems

TEXT = {"name": "text", "type": "string"}


def schema(*fields: dict) -> str:
    return json.dumps({"type": "record", "name": "Note", "namespace": "agentlog.t", "fields": list(fields)})


V1 = schema(TEXT)
WITH_OPTIONAL = schema(TEXT, {"name": "lang", "type": ["null", "string"], "default": None})
WITH_REQUIRED = schema(TEXT, {"name": "lang", "type": "string"})
RETYPED = schema({"name": "text", "type": "long"})
EMPTY = schema()


@pytest.mark.parametrize("level", LEVELS)
def test_an_optional_field_with_a_default_is_compatible_at_every_level(level):
    assert problems(level, WITH_OPTIONAL, [(1, V1)]) == []


def test_a_new_required_field_breaks_backward_and_names_the_field():
    found = problems("BACKWARD", WITH_REQUIRED, [(1, V1)])
    assert len(found) == 1
    assert found[0].startswith("v1 (new reads old): field lang: reader_field_missing_default_value")


def test_changing_a_type_is_refused_naming_the_field():
    (found,) = problems("BACKWARD_TRANSITIVE", RETYPED, [(1, V1)])
    assert "field text" in found
    assert "type_mismatch" in found


def test_removing_a_field_without_default_breaks_forward():
    assert problems("BACKWARD", EMPTY, [(1, V1)]) == []
    (found,) = problems("FORWARD", EMPTY, [(1, V1)])
    assert found.startswith("v1 (old reads new): field text: reader_field_missing_default_value")


def test_transitive_levels_check_every_version_not_only_the_latest():
    history = [(1, EMPTY), (2, V1)]
    new = schema(TEXT, {"name": "lang", "type": "string", "default": "en"})
    assert problems("BACKWARD", new, history) == []
    assert problems("BACKWARD_TRANSITIVE", new, history) != []  # v1 lacks `text`, which has no default


def test_full_checks_both_directions_and_none_checks_nothing():
    assert len(problems("FULL", RETYPED, [(1, V1)])) == 2
    assert problems("NONE", RETYPED, [(1, V1)]) == []


def test_an_unknown_level_is_named():
    with pytest.raises(ValueError, match="unknown compatibility level 'SIDEWAYS'"):
        problems("SIDEWAYS", V1, [(1, V1)])


def test_nested_fields_are_named_by_their_path():
    old = schema({"name": "meta", "type": {"type": "record", "name": "M", "fields": [TEXT]}})
    new = schema({"name": "meta", "type": {"type": "record", "name": "M", "fields": [{"name": "text", "type": "int"}]}})
    (found,) = problems("BACKWARD", new, [(1, old)])
    assert "field meta.text" in found


def _inner(field_type: str) -> dict:
    return {
        "type": "record",
        "name": "Inner",
        "fields": [{"name": "skip", "type": "int"}, {"name": "x", "type": field_type}],
    }


@pytest.mark.parametrize(
    ("wrap", "named"),
    [
        (lambda inner: {"type": "array", "items": inner}, "field meta.x: type_mismatch"),
        (lambda inner: {"type": "map", "values": inner}, "field meta.x: type_mismatch"),
        (lambda inner: ["null", inner], "field meta: missing_union_branch"),  # the checker stops at the union
    ],
    ids=["array", "map", "union"],
)
def test_a_field_nested_in_arrays_and_maps_is_named_by_its_path(wrap, named):
    old = schema(TEXT, {"name": "meta", "type": wrap(_inner("string"))})
    new = schema(TEXT, {"name": "meta", "type": wrap(_inner("boolean"))})
    (found,) = problems("BACKWARD", new, [(1, old)])
    assert found.startswith(f"v1 (new reads old): {named}: "), found
