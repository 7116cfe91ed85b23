"""Time travel and forks over HTTP: a session as it was at each version, and a fork that goes on from there
while the original stays as it was."""

from __future__ import annotations

import uuid

SESSION_STARTED, MESSAGE_POSTED = "agentlog.session.SessionStarted", "agentlog.session.MessagePosted"


def conversation(client, headers, *texts: str) -> tuple[str, int]:
    """A session with a user message per text; its id and the last message's position."""
    session, position = None, 0
    for text in texts:
        body = {"message": text, **({"session_id": session} if session else {})}
        posted = client.post("/v1/session/message", json=body, headers=headers)
        assert posted.status_code == 202, posted.text
        session, position = posted.json()["session_id"], posted.json()["position"]
    assert session is not None
    return session, position


def test_a_session_at_each_version_is_what_its_events_up_to_there_make(api, client):
    _, headers = api.tenant()
    session, _ = conversation(client, headers, "one", "two", "three")
    closed = client.post(f"/v1/sessions/{session}/close", json={"reason": "done"}, headers=headers)
    assert closed.status_code == 202

    now = client.get(f"/v1/sessions/{session}", params={"min_position": closed.json()["position"]}, headers=headers)
    past = [client.get(f"/v1/sessions/{session}", params={"at_version": v}, headers=headers) for v in range(1, 6)]

    assert [p.status_code for p in past] == [200] * 5
    assert [(p.json()["messages"], p.json()["status"]) for p in past] == [
        (0, "open"), (1, "open"), (2, "open"), (3, "open"), (3, "closed"),
    ]  # fmt: skip
    assert past[-1].json() == now.json()  # the last version is the session as the view shows it now
    assert {p.json()["started_at"] for p in past} == {now.json()["started_at"]}
    assert past[0].json()["closed_at"] is None and past[0].json()["last_activity"] == now.json()["started_at"]


def test_a_version_the_session_does_not_have_or_another_tenants_session_is_not_found(api, client):
    _, headers = api.tenant()
    _, others = api.tenant()
    session, _ = conversation(client, headers, "one")

    beyond = client.get(f"/v1/sessions/{session}", params={"at_version": 3}, headers=headers)
    theirs = client.get(f"/v1/sessions/{session}", params={"at_version": 1}, headers=others)
    zero = client.get(f"/v1/sessions/{session}", params={"at_version": 0}, headers=headers)

    assert beyond.status_code == 404 and beyond.json()["field"] == "query.at_version"
    assert "has no version 3: it is at version 2" in beyond.json()["detail"]
    assert theirs.status_code == 404 and theirs.json()["detail"] == f"session {session} not found"
    assert zero.status_code == 422 and zero.json()["field"] == "query.at_version"


def test_a_fork_starts_with_the_originals_history_goes_on_alone_and_leaves_the_original_as_it_was(api, client):
    _, headers = api.tenant()
    session, _ = conversation(client, headers, "one", "two", "three")
    before = client.get(f"/v1/sessions/{session}/events", headers=headers).json()

    forked = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 3}, headers=headers)

    assert forked.status_code == 202, forked.text
    fork = forked.json()["session_id"]
    assert forked.json()["forked_from"] == {"session_id": session, "version": 3}
    assert forked.headers["Location"] == f"/v1/sessions/{fork}"
    events = client.get(f"/v1/sessions/{fork}/events", headers=headers).json()
    assert [(e["event_type"], e["version"]) for e in events] == [(SESSION_STARTED, 1), (MESSAGE_POSTED, 2),
                                                                  (MESSAGE_POSTED, 3)]  # fmt: skip
    assert events[0]["data"]["forked_from"] == {"session_id": session, "version": 3}
    assert [e["data"]["text"] for e in events[1:]] == ["one", "two"]
    assert {e["data"]["message_id"] for e in events[1:]}.isdisjoint({e["data"].get("message_id") for e in before})

    went_on = client.post("/v1/session/message", json={"session_id": fork, "message": "something else"},
                          headers=headers)  # fmt: skip
    assert went_on.status_code == 202
    read = client.get(f"/v1/sessions/{fork}/messages", params={"min_position": went_on.json()["position"]},
                      headers=headers)  # fmt: skip
    assert [m["text"] for m in read.json()["items"]] == ["one", "two", "something else"]
    assert client.get(f"/v1/sessions/{session}/events", headers=headers).json() == before


def test_forks_that_cannot_be_are_refused_naming_why(api, client):
    _, headers = api.tenant()
    _, others = api.tenant()
    session, _ = conversation(client, headers, "one")
    taken, _ = conversation(client, headers, "taken")

    beyond = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 5}, headers=headers)
    theirs = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 1}, headers=others)
    twice = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 1, "session_id": taken}, headers=headers)
    client.post(f"/v1/sessions/{session}/close", json={}, headers=headers)
    after_close = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 3}, headers=headers)
    before_close = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 2}, headers=headers)

    assert beyond.status_code == 409 and "or before (at_version)" in beyond.json()["detail"]
    assert theirs.status_code == 404
    assert twice.status_code == 409
    assert after_close.status_code == 409 and "closed at version 3" in after_close.json()["detail"]
    assert before_close.status_code == 202
    assert uuid.UUID(before_close.json()["session_id"])
