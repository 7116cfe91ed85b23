"""Input rules over HTTP: strict JSON types, JSON bodies only, http(s) URLs, W3C traceparent, idempotency by content."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest

from api.errors import PROBLEM_JSON
from api.settings import ApiSettings
from cli.provider import serve
from observability import traceparent_from
from tests.support.api import another_api, recorded, store_db


def problem(response: httpx.Response, status: int, field: str) -> dict:
    """The problem+json body of a refusal that names `field`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:agentlog:problem:") and body["detail"]
    assert body["field"] == field, body
    return body


# strict types -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", True, False, 5.5, "1e3", None])
def test_a_daily_limit_that_is_not_a_json_integer_is_422_naming_it(api, client, value):
    tenant, admin = api.tenant("admin")

    refused = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": value}, headers=admin)

    problem(refused, 422, "daily_tokens")
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/tools/search/invocations", {"timeout_ms": "5000"}, "timeout_ms"),
        ("POST", "/v1/tools/search/invocations", {"timeout_ms": True}, "timeout_ms"),
        ("POST", "/v1/tools/search/invocations", {"timeout_ms": 5000.5}, "timeout_ms"),
        ("POST", "/v1/session/message", {"message": "hi", "attachments": [
            {"name": "a", "media_type": "image/png", "url": "https://files.example/a", "size_bytes": "12"}
        ]}, "attachments.0.size_bytes"),
        ("POST", "/v1/session/message", {"message": "hi", "attachments": [
            {"name": "a", "media_type": "image/png", "url": "https://files.example/a", "size_bytes": True}
        ]}, "attachments.0.size_bytes"),
        ("POST", "/v1/session/message", {"message": "hi", "attachments": [
            {"name": "a", "media_type": "image/png", "url": "https://files.example/a", "size_bytes": 12.5}
        ]}, "attachments.0.size_bytes"),
        ("POST", "/v1/session/message", {"message": "hi", "attachments": [
            {"name": "a", "media_type": "image/png", "url": "https://files.example/a", "size_bytes": -1.0}
        ]}, "attachments.0.size_bytes"),
    ],
    ids=["timeout-text", "timeout-bool", "timeout-fraction", "size-text", "size-bool", "size-fraction", "size-below-0"],
)  # fmt: skip
def test_other_numbers_are_not_coerced_from_text_or_booleans(api, client, method, path, body, field):
    tenant, headers = api.tenant()

    problem(client.request(method, path, json=body, headers=headers), 422, field)
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize("temperature", ["0.2", True])
def test_a_temperature_that_is_not_a_json_number_is_422(api, client, temperature):
    _, admin = api.tenant("platform-admin")
    body = {"model": "m", "base_url": "https://llm.example", "api_path": "/v1", "temperature": temperature}

    refused = client.put(f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud", json=body, headers=admin)

    problem(refused, 422, "temperature")


def test_an_integer_temperature_and_an_integer_limit_are_still_accepted(api, client):
    tenant, admin = api.tenant("admin", "platform-admin")
    body = {"model": "m", "base_url": "https://llm.example", "api_path": "/v1", "temperature": 1}

    profile = client.put(f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud", json=body, headers=admin)
    limit = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 5}, headers=admin)

    assert profile.status_code == 200, profile.text
    assert limit.status_code == 200 and limit.json()["daily_tokens"] == 5, limit.text


def test_whole_numbers_written_with_a_decimal_point_are_integers(api, client):
    """JSON Schema's `integer` is any number without a fractional part: 196.0 is one (JavaScript clients send it)."""
    tenant, admin = api.tenant("admin")
    attachment = {"name": "a", "media_type": "image/png", "url": "https://files.example/a", "size_bytes": 12.0}

    limit = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 196.0}, headers=admin)
    message = client.post("/v1/session/message", json={"message": "hi", "attachments": [attachment]}, headers=admin)
    tool = client.post("/v1/tools/echo/invocations", json={"arguments": {}, "timeout_ms": 5000.0}, headers=admin)

    assert limit.status_code == 200, limit.text
    assert type(limit.json()["daily_tokens"]) is int and limit.json()["daily_tokens"] == 196  # served as 196
    assert message.status_code == 202, message.text
    assert tool.status_code == 202, tool.text


# patterns that mean the same to every regex engine ------------------------------------------------


@pytest.mark.parametrize(
    "api_path",
    ["/v1/\u0085chat", "/v1/\ufeffchat", "/v1/\u00a0chat", "/v1/\x1fchat", "/v1/ chat", "/v1/\tchat", "/v1/ünï"],
    ids=["next-line", "bom", "nbsp", "unit-separator", "space", "tab", "non-ascii"],
)
def test_an_api_path_with_anything_but_visible_ascii_is_422_naming_it(api, client, api_path):
    """Python, Rust and JavaScript regexes disagree on which of these `\\S` matches; `[!-~]` means one thing."""
    _, admin = api.tenant("platform-admin")
    body = {"model": "m", "base_url": "https://llm.example", "api_path": api_path, "temperature": 0.2}

    problem(client.put(f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud", json=body, headers=admin), 422, "api_path")


def test_an_api_path_of_visible_ascii_is_kept_as_written(api, client):
    _, admin = api.tenant("platform-admin")
    api_path = "/v1/chat%20x/~a!b$c&d'e(f)*+,;=:@[]{}|^`"
    body = {"model": "m", "base_url": "https://llm.example", "api_path": api_path, "temperature": 0.2}

    written = client.put(f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud", json=body, headers=admin)

    assert written.status_code == 200, written.text


@pytest.mark.parametrize("media_type", ["imagé/png", "image/pnġ", "image/\u0663"])
def test_a_media_type_with_letters_or_digits_beyond_ascii_is_422_naming_it(api, client, media_type):
    tenant, headers = api.tenant()
    attachment = {"name": "a", "media_type": media_type, "url": "https://files.example/a"}

    refused = client.post("/v1/session/message", json={"message": "hi", "attachments": [attachment]}, headers=headers)

    problem(refused, 422, "attachments.0.media_type")
    assert recorded(api, tenant) == 0


# bodies that are not JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (b'{"message": "hi"}', "text/plain"),
        (b"message=hi", "application/x-www-form-urlencoded"),
        (b'{"message": "hi"}', "application/xml"),
        (b'{"message": "hi"}', "multipart/form-data; boundary=x"),
        (b'{"message": "hi"}', "application/json; charset=latin-1"),
    ],
    ids=["text", "form", "xml", "multipart", "latin-1"],
)
def test_a_body_that_is_not_json_is_415_naming_the_content_type_and_the_fix(api, client, content, media_type):
    tenant, headers = api.tenant()

    refused = client.post("/v1/session/message", content=content, headers=headers | {"Content-Type": media_type})

    body = problem(refused, 415, "Content-Type")
    assert body["type"] == "urn:agentlog:problem:unsupported-media-type"
    assert media_type.split(";")[0] in body["detail"]
    assert "application/json" in body["detail"]  # the fix
    assert recorded(api, tenant) == 0


def test_json_media_types_are_read_as_json(api, client):
    tenant, headers = api.tenant()
    content = b'{"message": "hi"}'

    answers = [
        client.post("/v1/session/message", content=content, headers=headers | {"Content-Type": media_type})
        for media_type in ("application/json", "Application/JSON; charset=UTF-8", "application/merge-patch+json")
    ]

    assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
    assert recorded(api, tenant) == 6


def test_a_body_without_a_content_type_is_415(api, client):
    tenant, headers = api.tenant()
    bare = client.build_request("POST", "/v1/session/message", content=b'{"message": "hi"}', headers=headers)
    assert "content-type" not in bare.headers

    body = problem(client.send(bare), 415, "Content-Type")

    assert "application/json" in body["detail"]
    assert recorded(api, tenant) == 0


def test_a_command_without_a_body_needs_no_content_type(api, client):
    _, headers = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)

    closed = client.post(f"/v1/sessions/{posted.json()['session_id']}/close", headers=headers)

    assert closed.status_code == 202, closed.text


def test_a_compressed_body_is_415_naming_content_encoding(api, client):
    tenant, headers = api.tenant()
    content = gzip.compress(b'{"message": "hi"}')
    sent = headers | {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    body = problem(client.post("/v1/session/message", content=content, headers=sent), 415, "Content-Encoding")

    assert "gzip" in body["detail"] and "uncompressed" in body["detail"]
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize(
    "content",
    [b'{"message": "caf\xe9"}', b"\xff\xfe{\x00}\x00", b'{"message": "\xed\xa0\x80"}'],
    ids=["latin-1", "utf-16", "surrogate-bytes"],
)
def test_a_body_that_is_not_utf8_is_400_naming_the_body(api, client, content):
    tenant, headers = api.tenant()

    sent = headers | {"Content-Type": "application/json"}
    body = problem(client.post("/v1/session/message", content=content, headers=sent), 400, "body")

    assert "UTF-8" in body["detail"]
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize("depth", [65, 10_000])
def test_json_nested_too_deeply_is_400_naming_the_body(api, client, depth):
    tenant, headers = api.tenant()
    arguments = "[" * depth + "]" * depth
    content = f'{{"arguments": {{"a": {arguments}}}}}'.encode()

    sent = headers | {"Content-Type": "application/json"}
    body = problem(client.post("/v1/tools/search/invocations", content=content, headers=sent), 400, "body")

    assert "64" in body["detail"]
    assert recorded(api, tenant) == 0


def test_brackets_inside_strings_do_not_count_as_nesting(api, client):
    _, headers = api.tenant()
    arguments = {"text": "[" * 500 + "{" * 500, "deep": [[[[["fine"]]]]]}

    answered = client.post("/v1/tools/search/invocations", json={"arguments": arguments}, headers=headers)

    assert answered.status_code == 202, answered.text


# URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd", "ftp://files.example/a", "https://"],
)
def test_an_attachment_url_must_be_http_or_https(api, client, url):
    tenant, headers = api.tenant()
    attachment = {"name": "a", "media_type": "text/html", "url": url}

    refused = client.post("/v1/session/message", json={"message": "hi", "attachments": [attachment]}, headers=headers)

    problem(refused, 422, "attachments.0.url")
    assert recorded(api, tenant) == 0


def test_an_attachment_url_is_kept_as_written(api, client):
    _, headers = api.tenant()
    url = "HTTPS://files.example/a%20b?x=1"
    attachment = {"name": "a", "media_type": "image/png", "url": url}

    posted = client.post("/v1/session/message", json={"message": "hi", "attachments": [attachment]}, headers=headers)
    assert posted.status_code == 202, posted.text
    session, position = posted.json()["session_id"], posted.json()["position"]
    messages = client.get(f"/v1/sessions/{session}/messages", params={"min_position": position}, headers=headers)

    assert messages.json()["items"][0]["attachments"][0]["url"] == url


# traceparent --------------------------------------------------------------------------------------

GOOD_TRACE = f"00-{'4bf92f3577b34da6a3ce929d0e0e4736'}-{'00f067aa0ba902b7'}-01"


@pytest.mark.parametrize(
    "traceparent",
    [
        "nope",
        "00-abc-def-01",
        GOOD_TRACE.upper(),
        GOOD_TRACE.replace("00-", "ff-", 1),
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-4bf92f3577b34da6a3ce929d0e0e4736-{'0' * 16}-01",
        GOOD_TRACE + "-extra",
        GOOD_TRACE[:-1],
    ],
    ids=["word", "short", "upper", "version-ff", "zero-trace", "zero-parent", "extra", "short-flags"],
)
def test_a_traceparent_that_is_not_w3c_syntax_is_ignored_and_a_new_trace_starts(api, client, traceparent):
    """W3C Trace Context: a receiver that cannot parse traceparent starts a new trace (it does not refuse)."""
    tenant, headers = api.tenant()

    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers | {"traceparent": traceparent})

    assert posted.status_code == 202, posted.text
    kept = stored_traceparents(api, tenant)
    assert len(kept) == 2 and traceparent not in kept
    assert all(t is None or traceparent_from(t) == t for t in kept)


@pytest.mark.parametrize(
    "traceparent", [GOOD_TRACE, GOOD_TRACE.replace("00-", "01-", 1) + "-a-later-field"], ids=["00", "later-version"]
)
def test_a_w3c_traceparent_is_accepted_and_a_later_version_read_as_00(api, client, traceparent):
    tenant, headers = api.tenant()

    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers | {"traceparent": traceparent})

    assert posted.status_code == 202, posted.text
    kept = stored_traceparents(api, tenant)
    assert [t.split("-")[:2] if t else None for t in kept] == [["00", GOOD_TRACE.split("-")[1]]] * 2  # caller's trace


def stored_traceparents(api, tenant: str) -> list[str | None]:
    with store_db(api) as conn:
        rows = conn.execute("SELECT traceparent FROM events WHERE tenant_id = %s ORDER BY position", (tenant,))
        return [row[0] for row in rows]


# idempotency --------------------------------------------------------------------------------------


def test_the_same_json_with_other_whitespace_or_key_order_is_the_same_request(api, client):
    tenant, headers = api.tenant()
    sent = headers | {"Idempotency-Key": f"k-{uuid.uuid4()}", "Content-Type": "application/json"}
    value = {"message": "hi", "metadata": {"a": "1", "b": "2"}}
    spellings = [
        json.dumps(value),
        json.dumps(value, indent=4),
        json.dumps({"metadata": {"b": "2", "a": "1"}, "message": "hi"}, separators=(",", ":")),
        "\n  " + json.dumps(value) + "\n",
    ]

    answers = [client.post("/v1/session/message", content=text.encode(), headers=sent) for text in spellings]

    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert recorded(api, tenant) == 2


def test_a_reused_key_is_refused_showing_the_clients_key(api, client):
    tenant, headers = api.tenant()
    key = f"order-{uuid.uuid4()}"
    sent = headers | {"Idempotency-Key": key}

    first = client.post("/v1/session/message", json={"message": "hi"}, headers=sent)
    refused = client.post("/v1/session/message", json={"message": "something else"}, headers=sent)

    assert first.status_code == 202, first.text
    body = problem(refused, 409, "Idempotency-Key")
    assert repr(key) in body["detail"]
    assert f"{tenant}:" not in body["detail"]
    assert recorded(api, tenant) == 2


# the live stream's resume id ----------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["0-00000", "00000-0", "0-0", "0-1", "0001-0002"])
def test_a_resume_id_with_leading_zeros_is_read_as_its_number(api, client, entry):
    _, headers = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)
    session, position = posted.json()["session_id"], posted.json()["position"]
    assert client.get(f"/v1/sessions/{session}", params={"min_position": position}, headers=headers).status_code == 200

    for params, sent in (({"last_event_id": entry}, headers), ({}, headers | {"Last-Event-ID": entry})):
        with client.stream("GET", f"/v1/sessions/{session}/stream", params=params, headers=sent) as response:
            assert response.status_code == 200, response.read()
            first = next(line for line in response.iter_lines() if line.startswith("event:"))
        assert first == "event: message"


@pytest.mark.parametrize("content", [b"\xff not json", b"[" * 5000, b"{}"])
def test_a_body_on_a_route_that_takes_none_is_ignored_even_with_an_idempotency_key(api, client, content):
    _, admin = api.tenant("platform-admin")
    path = f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud"
    sent = admin | {"Idempotency-Key": f"k-{uuid.uuid4()}", "Content-Type": "text/plain"}

    removed = client.request("DELETE", path, content=content, headers=sent)

    assert removed.status_code == 404, removed.text  # never set: the body played no part


# the body limit -----------------------------------------------------------------------------------


def test_the_largest_message_the_document_allows_fits_the_default_body_limit(api):
    """Every field at its maximum, every character astral and escaped as JSON `\\u` pairs (as json.dumps does by
    default): what the schema accepts, the default AGENTLOG_API_MAX_BODY does not refuse as 413."""
    tenant, headers = api.tenant()
    wide = "\U0001f600"
    body = {
        "message": wide * 32_000,
        "attachments": [{"name": wide * 500, "media_type": "a/" + "b" * 198, "url": "https://f.example/" + "x" * 1982}]
        * 20,
        "metadata": {f"{i:02d}" + wide * 98: wide * 2_000 for i in range(50)},
    }
    sent = json.dumps(body).encode()  # ensure_ascii: 12 bytes a character
    limit = ApiSettings.model_fields["api_max_body"].default
    assert 1_700_000 < len(sent) < limit

    with serve(another_api(api, api_max_body=limit)) as url:
        posted = httpx.post(
            f"{url}/v1/session/message",
            content=sent,
            headers=headers | {"Content-Type": "application/json"},
            timeout=30,
        )

    assert posted.status_code == 202, posted.text[:500]
    assert recorded(api, tenant) == 2
