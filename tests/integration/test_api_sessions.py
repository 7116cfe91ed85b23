"""Sessions over HTTP on the running system: post, read your write, list, messages, events, close."""

from __future__ import annotations

import uuid

from tests.support.api import eventually


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
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"


def test_read_your_writes_says_clearly_when_the_view_is_behind(api, client):
    _, headers = api.tenant()
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers).json()

    behind = client.get(
        f"/v1/sessions/{posted['session_id']}", params={"min_position": posted["position"] + 10**9}, headers=headers
    )

    assert behind.status_code == 412
    assert behind.headers["retry-after"] == "1"
    assert behind.json()["type"] == "urn:agentlog:problem:view-behind"
    assert "is behind" in behind.json()["detail"]
