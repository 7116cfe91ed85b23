"""Live transcript over SSE and WebSocket on the running system: order, ids, resume, closing, refusals."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from contracts.codec import EventCodec
from domain.session.commands import PostAssistantReply
from domain.session.service import post_reply
from eventstore.store import PostgresEventStore
from tests.support.api import JWT_SECRET, RunningApi, eventually
from tests.support.projections import ctx

WAIT = 10.0  # seconds any single read may take before the test fails instead of hanging


@pytest.fixture(scope="module")
def reply(api: RunningApi, codec: EventCodec) -> Iterator[Any]:
    """reply(tenant, session, "Hel", "lo"): an assistant reply recorded through the real command service
    (standing in for the conversation worker); returns the reply's message id."""
    settings = api.settings
    connecting = PostgresEventStore.connect(settings.postgres_dsn, codec, schema=settings.db_schema)
    store = asyncio.run_coroutine_threadsafe(connecting, api.loop).result(WAIT)

    def reply(tenant: str, session: str, *chunks: str) -> str:
        message = uuid.uuid4()
        command = PostAssistantReply(
            session_id=uuid.UUID(session), tenant_id=tenant, message_id=message, chunks=chunks, text="".join(chunks)
        )

        async def record() -> None:
            await post_reply(store, ctx(tenant), command)

        asyncio.run_coroutine_threadsafe(record(), api.loop).result(WAIT)
        return str(message)

    yield reply
    asyncio.run_coroutine_threadsafe(store.close(), api.loop).result(WAIT)


def start_session(client: httpx.Client, headers: dict[str, str], text: str = "hello") -> str:
    """A new session with one user message, readable once this returns (so streams do not 404)."""
    posted = client.post("/v1/session/message", json={"message": text}, headers=headers)
    assert posted.status_code == 202, posted.text
    session = posted.json()["session_id"]
    read = client.get(f"/v1/sessions/{session}", params={"min_position": posted.json()["position"]}, headers=headers)
    assert read.status_code == 200, read.text
    return str(session)


def wait_for_messages(client: httpx.Client, headers: dict[str, str], session: str, count: int) -> None:
    """Until the transcript holds `count` messages: the live stream then holds them too (same view
    step), so a `closed` recorded afterwards cannot overtake the reply on the live stream."""
    path = f"/v1/sessions/{session}/messages"
    eventually(lambda: len(client.get(path, headers=headers).json()["items"]) == count)


def close(client: httpx.Client, headers: dict[str, str], session: str) -> None:
    """Close the session, retrying once on 409 as the problem says: the API process may remember the
    session as it was before the reply recorded elsewhere (by the worker; here, by the test)."""
    closed = client.post(f"/v1/sessions/{session}/close", json={"reason": "done"}, headers=headers)
    if closed.status_code == 409 and closed.json()["type"] == "urn:agentlog:problem:concurrency-conflict":
        closed = client.post(f"/v1/sessions/{session}/close", json={"reason": "done"}, headers=headers)
    assert closed.status_code == 202, closed.text


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The events of an open SSE response: {"id", "event", "data" (parsed)}; comments are skipped."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "" and fields:
            yield {"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])}
            fields = {}
        elif line and not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    kind, data = event.get("event") or event["kind"], event["data"]
    if kind == "message":
        return ("message", data["role"], data["text"], data["version"])
    if kind == "chunk":
        return ("chunk", data["index"], data["text"], data["version"])
    return ("closed", data["reason"], data["version"])


def entry_order(entry: str) -> tuple[int, int]:
    ms, seq = entry.split("-")
    return int(ms), int(seq)


def stream(client: httpx.Client, session: str, headers: dict[str, str], **params: str) -> Any:
    return client.stream("GET", f"/v1/sessions/{session}/stream", headers=headers, params=params, timeout=WAIT)


def test_sse_sends_the_transcript_then_live_replies_in_order_and_ends_when_the_session_closes(api, client, reply):
    tenant, headers = api.tenant()
    session = start_session(client, headers)

    with stream(client, session, headers) as response:
        events = sse(response)
        first = next(events)
        assert summary(first) == ("message", "user", "hello", 2)
        message_id = reply(tenant, session, "Hel", "lo")
        replied = [next(events) for _ in range(3)]
        close(client, headers, session)
        closed = next(events)
        rest = list(events)  # the server ends the stream after `closed`

    assert [summary(e) for e in replied] == [
        ("chunk", 0, "Hel", 3),
        ("chunk", 1, "lo", 4),
        ("message", "assistant", "Hello", 5),
    ]
    assert {e["data"]["message_id"] for e in replied} == {message_id}
    assert summary(closed) == ("closed", "done", 6)
    assert rest == []
    ids = [e["id"] for e in (first, *replied, closed)]
    assert ids == sorted(ids, key=entry_order) and len(set(ids)) == 5


def test_sse_resumes_after_the_last_event_id_and_says_204_after_closed(api, client, reply):
    tenant, headers = api.tenant()
    session = start_session(client, headers)
    with stream(client, session, headers) as response:
        seen = next(sse(response))  # then the client goes away
    reply(tenant, session, "Hel", "lo")

    with stream(client, session, headers | {"Last-Event-ID": seen["id"]}) as response:
        events = sse(response)
        missed = [next(events) for _ in range(3)]
    with stream(client, session, headers, last_event_id=missed[0]["id"]) as response:  # by hand, in the query
        events = sse(response)
        after_first_chunk = [next(events) for _ in range(2)]
        close(client, headers, session)
        closed = next(events)
        assert list(events) == []
    resumed_after_closed = client.get(
        f"/v1/sessions/{session}/stream", headers=headers | {"Last-Event-ID": closed["id"]}
    )

    assert [summary(e) for e in missed] == [
        ("chunk", 0, "Hel", 3),
        ("chunk", 1, "lo", 4),
        ("message", "assistant", "Hello", 5),
    ]
    assert after_first_chunk == missed[1:]
    assert summary(closed) == ("closed", "done", 6)
    assert resumed_after_closed.status_code == 204  # EventSource stops reconnecting


def test_sse_of_a_closed_session_replays_it_and_ends(api, client):
    _, headers = api.tenant()
    session = start_session(client, headers)
    close(client, headers, session)

    with stream(client, session, headers) as response:
        events = [summary(e) for e in sse(response)]

    assert events == [("message", "user", "hello", 2), ("closed", "done", 3)]


def test_sse_refusals_are_problems_before_the_stream_starts(api, client):
    _, headers = api.tenant()
    _, stranger = api.tenant()
    session = start_session(client, headers)
    path = f"/v1/sessions/{session}/stream"

    anonymous = client.get(path)
    foreign = client.get(path, headers=stranger)
    unknown = client.get(f"/v1/sessions/{uuid.uuid4()}/stream", headers=headers)
    bad_resume = client.get(path, params={"last_event_id": "yesterday"}, headers=headers)

    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert foreign.status_code == 404 and unknown.status_code == 404
    assert bad_resume.status_code == 422
    for refused in (anonymous, foreign, unknown, bad_resume):
        assert refused.headers["content-type"] == "application/problem+json"
    assert foreign.json()["type"] == "urn:agentlog:problem:not-found"
    assert bad_resume.json()["field"] == "query.last_event_id"


def test_a_last_event_id_header_that_is_none_of_ours_is_ignored_and_the_stream_starts_over(api, client):
    """EventSource sends back the last id it saw: one that is not an event id of ours replays from the start."""
    _, headers = api.tenant()
    session = start_session(client, headers)

    with client.stream("GET", f"/v1/sessions/{session}/stream", headers=headers | {"Last-Event-ID": "yesterday"}) as r:
        assert r.status_code == 200, r.read()
        first = next(line for line in r.iter_lines() if line.startswith("event:"))

    assert first == "event: message"


def ws_url(api: RunningApi, session: str, **params: str) -> str:
    query = str(httpx.QueryParams(params))
    return api.url.replace("http", "ws", 1) + f"/v1/sessions/{session}/ws" + (f"?{query}" if query else "")


def socket(api: RunningApi, session: str, headers: dict[str, str] | None = None, **params: str) -> ClientConnection:
    return connect(ws_url(api, session, **params), additional_headers=headers, open_timeout=WAIT, close_timeout=WAIT)


def receive(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=WAIT)))


def until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """The messages still to come, and the code and reason the server then closed with."""
    messages: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed) as closed:
        messages.extend(iter(partial(receive, ws), None))  # keeps what came before the close
    assert closed.value.rcvd is not None, "the server did not close"
    return messages, (closed.value.rcvd.code, closed.value.rcvd.reason)


def close_code(ws: ClientConnection) -> tuple[int, str]:
    messages, code = until_closed(ws)
    assert messages == []
    return code


def test_websocket_sends_the_same_updates_and_closes_normally_after_closed(api, client, reply):
    tenant, headers = api.tenant()
    session = start_session(client, headers)

    with socket(api, session, headers) as ws:
        first = receive(ws)
        reply(tenant, session, "Hel", "lo")
        replied = [receive(ws) for _ in range(3)]
        close(client, headers, session)
        closed = receive(ws)
        code = close_code(ws)

    assert summary(first) == ("message", "user", "hello", 2)
    assert [summary(m) for m in replied] == [
        ("chunk", 0, "Hel", 3),
        ("chunk", 1, "lo", 4),
        ("message", "assistant", "Hello", 5),
    ]
    assert summary(closed) == ("closed", "done", 6)
    assert code == (1000, "session closed")
    ids = [m["id"] for m in (first, *replied, closed)]
    assert ids == sorted(ids, key=entry_order) and len(set(ids)) == 5
    assert set(first) == {"id", "kind", "data"}


def test_websocket_authenticates_from_the_query_and_resumes_after_last_event_id(api, client, reply):
    tenant, headers = api.tenant()
    session = start_session(client, headers)
    key = headers["X-API-Key"]
    with socket(api, session, api_key=key) as ws:
        seen = receive(ws)
    reply(tenant, session, "Hel", "lo")
    wait_for_messages(client, headers, session, 2)
    close(client, headers, session)

    token = jwt.encode({"tenant": tenant, "scope": "", "exp": time.time() + 60}, JWT_SECRET, algorithm="HS256")
    with socket(api, session, access_token=token, last_event_id=seen["id"]) as ws:
        resumed, code = until_closed(ws)
    with socket(api, session, headers, last_event_id=seen["id"]) as ws:
        by_header = [receive(ws) for _ in range(4)]
    with socket(api, session, headers, last_event_id=by_header[-1]["id"]) as ws:
        after_closed = close_code(ws)

    assert [summary(m) for m in resumed] == [
        ("chunk", 0, "Hel", 3),
        ("chunk", 1, "lo", 4),
        ("message", "assistant", "Hello", 5),
        ("closed", "done", 6),
    ]
    assert code == after_closed == (1000, "session closed")
    assert by_header == resumed


def test_websocket_refusals_close_with_4401_and_4404(api, client):
    _, headers = api.tenant()
    _, stranger = api.tenant()
    session = start_session(client, headers)

    with socket(api, session) as ws:
        anonymous = close_code(ws)
    with socket(api, session, api_key="alk_not-a-key") as ws:
        bad_key = close_code(ws)
    with socket(api, session, {"Authorization": "Bearer not.a.jwt"}) as ws:
        bad_token = close_code(ws)
    with socket(api, session, stranger) as ws:
        foreign = close_code(ws)
    with socket(api, str(uuid.uuid4()), headers) as ws:
        unknown = close_code(ws)
    with socket(api, "not-a-session", headers) as ws:
        malformed = close_code(ws)
    with socket(api, session, headers, last_event_id="yesterday") as ws:
        bad_resume = close_code(ws)

    assert anonymous[0] == 4401 and "no credentials" in anonymous[1]
    assert bad_key[0] == 4401 and "API key" in bad_key[1]
    assert bad_token[0] == 4401 and "bearer token" in bad_token[1]
    assert foreign == (4404, f"session {session} not found")
    assert unknown[0] == 4404 and malformed[0] == 4404
    assert bad_resume[0] == 4422
