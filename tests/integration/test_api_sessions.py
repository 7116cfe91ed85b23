"""Sessions over HTTP on the running system: post, read your write, list, messages, events, close."""

from __future__ import annotations

import time
import uuid

import httpx

from cli.provider import serve
from tests.support.api import another_api, eventually


def test_posting_a_message_starts_a_session_that_reads_back(api, client):
    _, headers = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "hello", "persona_id": "helper"}, headers=headers)
    assert posted.status_code == 202, posted.text
    body = posted.json()
    session = body["session_id"]

    read = client.get(f"/v1/sessions/{session}", params={"min_position": body["position"]}, headers=headers)

    assert read.status_code == 200, read.text
    assert read.json() | {"started_at": None, "last_activity": None} == {
        "session_id": session,
        "persona_id": "helper",
        "status": "open",
        "messages": 1,
        "started_at": None,
        "last_activity": None,
        "closed_at": None,
    }
    attachment = {"name": "q3.pdf", "media_type": "application/pdf", "url": "https://files.example/q3.pdf"}
    again = client.post(
        "/v1/session/message",
        json={"session_id": session, "message": "more", "metadata": {"k": "v"}, "attachments": [attachment]},
        headers=headers,
    )
    assert again.status_code == 202
    messages = client.get(
        f"/v1/sessions/{session}/messages", params={"min_position": again.json()["position"]}, headers=headers
    )
    assert [(m["role"], m["text"], m["version"]) for m in messages.json()["items"]] == [
        ("user", "hello", 2),
        ("user", "more", 3),
    ]
    assert messages.json()["items"][1]["metadata"] == {"k": "v"}
    assert messages.json()["items"][1]["attachments"] == [attachment | {"size_bytes": None}]
    events = client.get(f"/v1/sessions/{session}/events", headers=headers).json()
    assert [e["event_type"] for e in events] == [
        "agentlog.session.SessionStarted",
        "agentlog.session.MessagePosted",
        "agentlog.session.MessagePosted",
    ]
    assert events[1]["data"]["text"] == "hello" and events[1]["schema_version"] >= 1
    listed = client.get("/v1/sessions", headers=headers).json()
    assert [s["session_id"] for s in listed["items"]] == [session]


def test_sessions_page_by_cursor_most_recent_first(api, client):
    _, headers = api.tenant()
    made = [client.post("/v1/session/message", json={"message": f"s{i}"}, headers=headers).json() for i in range(5)]
    eventually(lambda: len(client.get("/v1/sessions", headers=headers).json()["items"]) == 5)

    first = client.get("/v1/sessions", params={"limit": 2}, headers=headers).json()
    second = client.get("/v1/sessions", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).json()
    third = client.get("/v1/sessions", params={"limit": 2, "cursor": second["next_cursor"]}, headers=headers).json()

    seen = [s["session_id"] for page in (first, second, third) for s in page["items"]]
    assert sorted(seen) == sorted(m["session_id"] for m in made)
    assert len(set(seen)) == 5 and third["next_cursor"] is None


def test_closing_a_session_and_posting_after_it_is_a_conflict(api, client):
    _, headers = api.tenant()
    session = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()["session_id"]

    closed = client.post(f"/v1/sessions/{session}/close", json={"reason": "done"}, headers=headers)
    late = client.post("/v1/session/message", json={"session_id": session, "message": "late"}, headers=headers)

    assert closed.status_code == 202, closed.text
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["type"] == "urn:agentlog:problem:state-conflict"
    shown = client.get(f"/v1/sessions/{session}", params={"min_position": closed.json()["position"]}, headers=headers)
    assert shown.json()["status"] == "closed"


def test_another_tenants_session_is_not_found(api, client):
    _, owner = api.tenant()
    _, stranger = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "mine"}, headers=owner).json()
    session = posted["session_id"]
    client.get(f"/v1/sessions/{session}", params={"min_position": posted["position"]}, headers=owner)

    for path in (f"/v1/sessions/{session}", f"/v1/sessions/{session}/messages", f"/v1/sessions/{session}/events"):
        assert client.get(path, headers=stranger).status_code == 404, path
    intrude = client.post("/v1/session/message", json={"session_id": session, "message": "x"}, headers=stranger)
    assert intrude.status_code == 404
    assert client.post(f"/v1/sessions/{session}/close", headers=stranger).status_code == 404
    assert client.get("/v1/sessions", headers=stranger).json()["items"] == []


def test_a_retried_post_with_an_idempotency_key_returns_the_first_answer(api, client):
    _, headers = api.tenant()
    key = {"Idempotency-Key": str(uuid.uuid4()), **headers}

    first = client.post("/v1/session/message", json={"message": "once"}, headers=key)
    retry = client.post("/v1/session/message", json={"message": "once"}, headers=key)
    other = client.post("/v1/session/message", json={"message": "different"}, headers=key)

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    events = client.get(f"/v1/sessions/{first.json()['session_id']}/events", headers=headers).json()
    assert len(events) == 2  # started + one message: the retry recorded nothing
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key"


def test_read_your_writes_counts_the_resources_own_events_up_to_the_position(api, client):
    """`min_position` may be the position of a write to another session, or past the store's end: the read waits
    only for the session's own events up to it; a session with none is a 404 at once."""
    _, headers = api.tenant()
    first = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()
    later = client.post("/v1/session/message", json={"message": "another session"}, headers=headers).json()
    assert client.get(f"/v1/sessions/{first['session_id']}", params={"min_position": first["position"]},
                      headers=headers).status_code == 200  # fmt: skip

    began = time.monotonic()
    by_another_write = client.get(
        f"/v1/sessions/{first['session_id']}", params={"min_position": later["position"]}, headers=headers
    )
    past_the_end = client.get(
        f"/v1/sessions/{first['session_id']}/messages", params={"min_position": 2**53 - 1}, headers=headers
    )
    unknown = client.get(f"/v1/sessions/{uuid.uuid4()}", params={"min_position": later["position"]}, headers=headers)
    took = time.monotonic() - began

    assert by_another_write.status_code == 200, by_another_write.text
    assert [m["text"] for m in past_the_end.json()["items"]] == ["hi"]
    assert unknown.status_code == 404, unknown.text
    assert took < api.settings.api_read_wait  # none of the three waited out the read wait


def test_read_your_writes_says_clearly_when_the_view_is_behind(api, client):
    """An API reading views no projection fills (another Redis prefix): the write's own read times out as 412."""
    _, headers = api.tenant()
    settings = another_api(api, redis_prefix=f"api:empty:{uuid.uuid4().hex[:8]}:", api_read_wait=0.2)
    with serve(settings) as url, httpx.Client(base_url=url, timeout=10) as behind_client:
        posted = behind_client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()
        behind = behind_client.get(
            f"/v1/sessions/{posted['session_id']}", params={"min_position": posted["position"]}, headers=headers
        )

    assert behind.status_code == 412, behind.text
    assert behind.headers["retry-after"] == "1"
    assert behind.json()["type"] == "urn:agentlog:problem:view-behind"
    assert "is behind" in behind.json()["detail"]
