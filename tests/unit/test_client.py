"""agentlog.client's pure parts: SSE decoding, WebSocket addresses, problems from any error answer."""

from __future__ import annotations

import httpx
import pytest

from agentlog.client import ClientProblem, InternalError, ServerProblem, Unavailable
from agentlog.client._base import credentials, refused
from agentlog.client.errors import problem_of
from agentlog.client.streams import SseDecoder, websocket_url


def decode(text: str) -> list[tuple[str | None, str, object]]:
    decoder = SseDecoder()
    events = (decoder.feed(line) for line in text.split("\n"))
    return [(e.id, e.kind, e.data) for e in events if e is not None]


def test_sse_events_are_dispatched_at_blank_lines_and_comments_skipped():
    text = (
        'id: 1-0\nevent: chunk\ndata: {"index":0}\n\n: keep-alive\n\nid: 2-0\nevent: closed\ndata: {"reason":null}\n\n'
    )
    assert decode(text) == [("1-0", "chunk", {"index": 0}), ("2-0", "closed", {"reason": None})]


def test_multi_line_data_is_joined_and_a_missing_event_name_is_message():
    assert decode('data: {"a":\ndata: 1}\n\n') == [(None, "message", {"a": 1})]
    assert decode("event: chunk\n\n") == []  # no data: nothing to dispatch


def test_websocket_urls_follow_the_base_urls_scheme_and_path():
    assert websocket_url("http://h:8000", "s1", None) == "ws://h:8000/v1/sessions/s1/ws"
    assert websocket_url("https://h/api/", "s1", "5-0") == "wss://h/api/v1/sessions/s1/ws?last_event_id=5-0"


def test_an_answer_without_problem_json_still_raises_by_status_family():
    gateway = problem_of(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(gateway, ServerProblem) and gateway.status == 502 and "bad gateway" in gateway.detail
    teapot = problem_of(httpx.Response(418, json=["not", "a", "problem"]))
    assert type(teapot) is ClientProblem and teapot.title == "I'm a teapot"
    down = problem_of(httpx.Response(503, json={"title": "Service unavailable", "detail": "redis"},
                                     headers={"Retry-After": "5"}))  # fmt: skip
    assert isinstance(down, Unavailable) and down.retry_after == 5
    assert isinstance(problem_of(httpx.Response(500, headers={"Retry-After": "soon"})), InternalError)


def test_websocket_close_codes_map_to_problems_and_a_normal_close_to_none():
    assert refused(1000, "session closed") is None
    problem = refused(4404, "session x not found")
    assert problem is not None and (problem.status, problem.detail) == (404, "session x not found")


def test_credentials_are_a_key_or_a_token_not_both():
    assert credentials("alk_1", None) == {"X-API-Key": "alk_1"}
    assert credentials(None, "jwt") == {"Authorization": "Bearer jwt"}
    with pytest.raises(ValueError, match="not both"):
        credentials("alk_1", "jwt")
