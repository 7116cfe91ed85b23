"""What Schemathesis found, each pinned over HTTP: the answers now match the document (issue 14)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from jsonschema_rs import Draft202012Validator

from api.errors import PROBLEM_JSON
from api.routes.streams import SSE_EVENT
from tests.support.api import eventually


def _problem(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["field"] == field


@pytest.mark.parametrize("day", ["0", "20261124", "2026-13-01", "2026-02-30", "24.11.2026"])
def test_a_budget_day_that_is_not_a_calendar_day_written_yyyy_mm_dd_is_422_naming_it(api, client, day):
    _, headers = api.tenant()

    _problem(client.get("/v1/budgets", params={"day": day}, headers=headers), 422, "query.day")


def test_a_budget_day_written_yyyy_mm_dd_is_read(api, client):
    _, headers = api.tenant()

    read = client.get("/v1/budgets", params={"day": "2026-11-24"}, headers=headers)

    assert read.status_code == 200 and read.json() == {"items": []}


@pytest.mark.parametrize("method", ["OPTIONS", "PATCH", "POST"])
def test_a_method_a_path_does_not_answer_is_405_allowing_every_method_it_does(api, client, method):
    _, headers = api.tenant()

    refused = client.request(method, "/v1/model-profiles/summarizer/cloud", headers=headers)

    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, HEAD, PUT"  # three routes share the path
    assert refused.headers["content-type"] == PROBLEM_JSON


def test_an_authorization_header_next_to_a_valid_api_key_is_ignored_as_before(api, client):
    _, headers = api.tenant()

    for authorization in ("Bearer not-a-token", "Basic Zm9vOmJhcg==", "null"):
        listed = client.get("/v1/sessions", headers=headers | {"Authorization": authorization})
        assert listed.status_code == 200, (authorization, listed.text)


def test_a_bearer_api_key_still_authenticates(api, client):
    _, headers = api.tenant()

    listed = client.get("/v1/sessions", headers={"Authorization": f"Bearer {headers['X-API-Key']}"})

    assert listed.status_code == 200, listed.text


def test_every_accepted_command_names_where_to_read_it_in_location(api, client):
    _, headers = api.tenant("admin")
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)
    task = client.post("/v1/delegation/tasks", json={"title": "t", "instructions": "i"}, headers=headers)
    tool = client.post("/v1/tools/echo/invocations", json={"arguments": {"text": "x"}}, headers=headers)
    session, task_id = posted.json()["session_id"], task.json()["task_id"]
    started = client.post(f"/v1/delegation/tasks/{task_id}/start", json={"worker": "w"}, headers=headers)
    closed = client.post(f"/v1/sessions/{session}/close", json={}, headers=headers)

    assert posted.headers["location"] == closed.headers["location"] == f"/v1/sessions/{session}"
    assert task.headers["location"] == started.headers["location"] == f"/v1/delegation/tasks/{task_id}"
    assert tool.headers["location"] == f"/v1/tool-executions/{tool.json()['request_id']}"
    read = client.get(task.headers["location"], params={"min_position": started.json()["position"]}, headers=headers)
    assert read.status_code == 200 and read.json()["status"] == "running"


def test_every_event_on_the_live_stream_matches_the_documented_event_schema(api, client):
    _, headers = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)
    session = posted.json()["session_id"]
    eventually(lambda: client.get(f"/v1/sessions/{session}", headers=headers).status_code == 200)
    assert client.post(f"/v1/sessions/{session}/close", json={"reason": "done"}, headers=headers).status_code == 202

    with client.stream("GET", f"/v1/sessions/{session}/stream", headers=headers, timeout=10) as stream:
        text = "".join(stream.iter_text())  # ends after `closed`

    events = [dict(re.findall(r"^(\w+): (.*)$", block, re.M)) for block in text.split("\n\n") if block.strip()]
    event_schema = Draft202012Validator(SSE_EVENT)
    data_schema = Draft202012Validator(SSE_EVENT["properties"]["data"]["contentSchema"])
    assert [e["event"] for e in events] == ["message", "closed"]
    for event in events:
        assert event_schema.is_valid(event), event
        assert data_schema.is_valid(json.loads(event["data"])), event


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_api_pages_load_their_scripts_from_the_api_itself_not_a_cdn(client, page, script):
    html = client.get(page).text

    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/docs/static/") for s in sources), sources
    served = client.get(f"/docs/static/{script}")
    assert served.status_code == 200 and len(served.content) > 100_000
