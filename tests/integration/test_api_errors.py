"""Refused requests over HTTP: problem+json with the field at fault, the right status, and nothing recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from api.errors import PROBLEM_JSON
from tests.support.api import recorded

PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def caller(api) -> tuple[str, dict[str, str]]:
    """A fresh tenant (nothing recorded yet) and its key headers."""
    return api.tenant()


def problem(response: httpx.Response, status: int) -> dict:
    """The problem+json body of a refusal, checked for shape and for leaks."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("urn:agentlog:problem:")
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def fields(body: dict) -> list[str]:
    return [e["field"] for e in body["errors"]]


def test_malformed_json_is_400_and_records_nothing(api, client, caller):
    tenant, headers = caller
    for raw in (b'{"message": "unterminated', b"{'message': 'single quotes'}", b"not json", b'{"message": "x",}'):
        response = client.post(
            "/v1/session/message", content=raw, headers={**headers, "Content-Type": "application/json"}
        )
        body = problem(response, 400)
        assert body["type"] == "urn:agentlog:problem:malformed-json"
        assert body["field"] == "body"
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": 123}, ["message"]),
        ({"message": ["a"]}, ["message"]),
        ({"message": "hi", "metadata": {"k": 1}}, ["metadata.k"]),
        ({"message": "hi", "attachments": "none"}, ["attachments"]),
        ({"message": "hi", "bogus": 1}, ["bogus"]),
        ({"message": "hi", "attachments": [{"name": "a", "media_type": "image/png", "url": "https://x.y", "x": 1}]},
         ["attachments.0.x"]),
        ({"message": "hi", "session_id": "not-a-uuid"}, ["session_id"]),
        ({"message": "hi", "session_id": 7}, ["session_id"]),
        ({}, ["message"]),
        ({"persona_id": "helper"}, ["message"]),
        ({"message": ""}, ["message"]),
        ({"message": "x" * 32_001}, ["message"]),
        ({"message": "hi", "persona_id": "p" * 201}, ["persona_id"]),
        ({"message": "hi", "metadata": {"k": "v" * 2001}}, ["metadata.k"]),
        ({"message": "hi", "persona_id": "has spaces"}, ["persona_id"]),
        ({"message": "hi", "attachments": [{"name": "a", "media_type": "png", "url": "nope"}]},
         ["attachments.0.media_type", "attachments.0.url"]),
        ({"message": 1, "session_id": "x", "bogus": True}, ["message", "session_id", "bogus"]),
    ],
    ids=[
        "int-message", "list-message", "int-metadata", "str-attachments", "unknown-field", "unknown-nested-field",
        "bad-uuid", "int-uuid", "empty-body", "missing-message", "empty-message", "too-long-message",
        "too-long-persona", "too-long-metadata-value", "bad-pattern", "bad-attachment", "several",
    ],
)  # fmt: skip
def test_invalid_values_are_422_naming_every_field(api, client, caller, body, expected):
    tenant, headers = caller

    refused = problem(client.post("/v1/session/message", json=body, headers=headers), 422)

    assert refused["type"] == "urn:agentlog:problem:validation"
    assert sorted(fields(refused)) == sorted(expected)
    assert refused["field"] == refused["errors"][0]["field"]
    assert all(e["message"] for e in refused["errors"])
    assert recorded(api, tenant) == 0


def test_a_body_that_is_not_an_object_is_422(api, client, caller):
    tenant, headers = caller
    bodies: list[object] = [[], "text", 5, None]
    for body in bodies:
        refused = problem(client.post("/v1/session/message", json=body, headers=headers), 422)
        assert refused["errors"], body
    assert recorded(api, tenant) == 0


def test_bad_uuids_and_parameters_in_the_path_and_query_are_422(api, client, caller):
    tenant, headers = caller
    cases = [
        ("GET", "/v1/sessions/not-a-uuid", {}, "path.session_id"),
        ("GET", "/v1/sessions/1234/messages", {}, "path.session_id"),
        ("GET", "/v1/sessions/not-a-uuid/events", {}, "path.session_id"),
        ("POST", "/v1/sessions/not-a-uuid/close", {}, "path.session_id"),
        ("GET", "/v1/sessions", {"limit": "many"}, "query.limit"),
        ("GET", "/v1/sessions", {"limit": 0}, "query.limit"),
        ("GET", "/v1/sessions", {"cursor": "nope"}, "query.cursor"),
        ("GET", f"/v1/sessions/{uuid.uuid4()}", {"min_position": -1}, "query.min_position"),
    ]
    for method, path, params, field in cases:
        refused = problem(client.request(method, path, params=params, headers=headers), 422)
        assert refused["field"] == field, (method, path, refused)
        assert fields(refused) == [field]
    assert recorded(api, tenant) == 0


def test_a_bad_idempotency_key_header_is_422(api, client, caller):
    tenant, headers = caller

    refused = client.post(
        "/v1/session/message", json={"message": "x"}, headers={**headers, "Idempotency-Key": "k" * 201}
    )

    assert problem(refused, 422)["field"] == "header.idempotency-key"
    assert recorded(api, tenant) == 0


def test_a_close_with_a_bad_body_is_422_and_does_not_close(api, client, caller):
    tenant, headers = caller
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()
    session = posted["session_id"]

    for body, field in (({"reason": 5}, "reason"), ({"why": "x"}, "why"), ({"reason": "r" * 2001}, "reason")):
        refused = problem(client.post(f"/v1/sessions/{session}/close", json=body, headers=headers), 422)
        assert fields(refused) == [field]
    malformed = client.post(
        f"/v1/sessions/{session}/close", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    problem(malformed, 400)
    assert recorded(api, tenant) == 2  # the session's start and message only


def big(size: int) -> bytes:
    return b'{"message": "' + b"x" * size + b'"}'


def test_a_body_over_the_limit_is_413_by_content_length(api, client, caller):
    tenant, headers = caller
    limit = api.settings.api_max_body

    refused = client.post(
        "/v1/session/message", content=big(limit), headers={**headers, "Content-Type": "application/json"}
    )

    assert refused.request.headers["content-length"] == str(limit + 15)
    body = problem(refused, 413)
    assert body["type"] == "urn:agentlog:problem:too-large"
    assert body["field"] == "body"
    assert str(limit) in body["detail"]
    assert recorded(api, tenant) == 0


def test_a_chunked_body_over_the_limit_is_413_too(api, client, caller):
    tenant, headers = caller
    limit = api.settings.api_max_body

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    refused = client.post(
        "/v1/session/message", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )

    assert "content-length" not in refused.request.headers
    assert refused.request.headers["transfer-encoding"] == "chunked"
    body = problem(refused, 413)
    assert body["type"] == "urn:agentlog:problem:too-large"  # the same problem as with a Content-Length
    assert body["field"] == "body"
    assert recorded(api, tenant) == 0


def test_a_body_just_under_the_limit_is_judged_on_its_content(api, client, caller):
    _, headers = caller
    limit = api.settings.api_max_body

    def chunks() -> Iterator[bytes]:
        yield big(limit - 100)

    answered = client.post(
        "/v1/session/message", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )

    assert fields(problem(answered, 422)) == ["message"]  # past the 32 000 characters a message may have


def test_an_unknown_route_is_404_problem_json(client, caller):
    _, headers = caller
    for path in ("/v1/nope", "/nope", "/v1/sessions/x/y/z", "/v2/sessions"):
        body = problem(client.get(path, headers=headers), 404)
        assert body["type"] == "urn:agentlog:problem:not-found"
    problem(client.post("/v1/nope", json={}, headers=headers), 404)


def test_a_wrong_method_is_405_problem_json_with_allow(api, client, caller):
    tenant, headers = caller
    for method, path, allowed in (
        ("DELETE", "/v1/sessions", "GET"),
        ("PUT", "/v1/session/message", "POST"),
        ("GET", "/v1/session/message", "POST"),
        ("PATCH", f"/v1/sessions/{uuid.uuid4()}", "GET"),
        ("POST", "/health", "GET"),
    ):
        response = client.request(method, path, headers=headers)
        body = problem(response, 405)
        assert body["type"] == "urn:agentlog:problem:method-not-allowed", (method, path)
        assert allowed in response.headers["allow"], (method, path)
    assert recorded(api, tenant) == 0


def test_a_refusal_is_never_a_500_whatever_the_body(api, client, caller):
    tenant, headers = caller
    odd: list[tuple[bytes, str]] = [
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'{"message": "\\ud800"}', "application/json"),  # a lone surrogate
        (b'{"message": "x\\u0000y"}', "application/json"),
        (b"message=hi", "application/x-www-form-urlencoded"),
        (b'{"message": "hi"}', "text/plain"),
        (b"", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"message": 1e999999}', "application/json"),
    ]
    for raw, media_type in odd:
        response = client.post("/v1/session/message", content=raw, headers={**headers, "Content-Type": media_type})
        assert response.status_code < 500, (raw[:40], response.status_code, response.text)
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            problem(response, response.status_code)
    assert recorded(api, tenant) == 2  # only the message with a NUL in it, which is valid JSON text
