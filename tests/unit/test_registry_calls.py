"""How registry failures are sorted: the registry's own "not found", no verdict (unavailable), or a refusal."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from contracts.errors import RegistryUnavailable, UndecodableRecord
from contracts.registry_calls import registry_call


def failing(error: Exception, **options: bool) -> None:
    with registry_call(lambda: UndecodableRecord("schema id 7 is unknown to the registry"), **options):
        raise error


@pytest.mark.parametrize("code", [40401, 40402, 40403])
def test_the_registrys_own_not_found_is_the_callers_not_found_error(code):
    with pytest.raises(UndecodableRecord, match="unknown to the registry"):
        failing(SchemaRegistryError(404, code, "not found"))


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, 50001), (502, -1), (503, None), (504, -1), (408, -1), (429, 42901), (401, 40101), (403, 40301), (404, None)],
)
def test_answers_that_are_no_verdict_on_the_schema_are_unavailable(status, code):
    with pytest.raises(RegistryUnavailable, match=f"HTTP {status}"):
        failing(SchemaRegistryError(status, code, "busy"))


@pytest.mark.parametrize("status", [409, 422, 400])
def test_other_refusals_are_left_to_the_caller(status):
    with pytest.raises(SchemaRegistryError):
        failing(SchemaRegistryError(status, status * 100 + 1, "refused"))


def test_transport_errors_are_unavailable():
    with pytest.raises(RegistryUnavailable, match="refused"):
        failing(ConnectionRefusedError("connection refused"))


def test_an_unreadable_answer_is_unavailable_unless_the_call_raises_those_for_its_own_input():
    with pytest.raises(RegistryUnavailable, match="not a schema registry's"):
        failing(ValueError("Expecting value: line 1 column 1"))
    with pytest.raises(ValueError, match="Expecting value"):
        failing(ValueError("Expecting value: line 1 column 1"), garbled_is_unavailable=False)
