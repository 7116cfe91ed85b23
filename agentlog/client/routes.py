"""Every route of the API as a `Call`: what to send and how to read the answer, for both clients.

The sync and async clients only send Calls (see `_sync.py`, `_async.py`), so a route's path,
body and response model are written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic import TypeAdapter

from agentlog.client import models as m

T = TypeVar("T")
Id = UUID | str


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request: method, path (under the base URL), query, JSON body, headers; `read` parses a 2xx
    answer (or one of the `also` statuses, answered with the same body: /health's 503)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    also: tuple[int, ...] = ()


def _model(kind: type[T]) -> Callable[[httpx.Response], T]:
    adapter = TypeAdapter(kind)
    return lambda response: adapter.validate_json(response.content)


def _seg(value: Id) -> str:
    return quote(str(value), safe="")


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left out (None), so the server applies its defaults."""
    return {k: v for k, v in fields.items() if v is not None}


def _query(**params: Any) -> dict[str, Any]:
    return {k: str(v) for k, v in params.items() if v is not None}


def command_headers(idempotency_key: str | None, traceparent: str | None) -> dict[str, str]:
    """`Idempotency-Key` makes a retried command safe; `traceparent` is kept with its events."""
    return _query(**{"Idempotency-Key": idempotency_key, "traceparent": traceparent})


def post_message(
    message: str,
    *,
    session_id: Id | None = None,
    persona_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[m.MessageAccepted]:
    body = _body(
        session_id=str(session_id) if session_id else None,
        persona_id=persona_id,
        message=message,
        attachments=attachments or None,
        metadata=metadata or None,
    )
    return Call("POST", "/v1/session/message", _model(m.MessageAccepted), json=body, headers=headers or {})


def list_sessions(limit: int | None = None, cursor: str | None = None) -> Call[m.SessionPage]:
    return Call("GET", "/v1/sessions", _model(m.SessionPage), params=_query(limit=limit, cursor=cursor))


def get_session(session_id: Id, min_position: int | None = None, at_version: int | None = None) -> Call[m.Session]:
    params = _query(min_position=min_position, at_version=at_version)
    return Call("GET", f"/v1/sessions/{_seg(session_id)}", _model(m.Session), params=params)


def list_messages(
    session_id: Id, limit: int | None = None, cursor: str | None = None, min_position: int | None = None
) -> Call[m.MessagePage]:
    params = _query(limit=limit, cursor=cursor, min_position=min_position)
    return Call("GET", f"/v1/sessions/{_seg(session_id)}/messages", _model(m.MessagePage), params=params)


def list_events(session_id: Id) -> Call[list[m.RawEvent]]:
    return Call("GET", f"/v1/sessions/{_seg(session_id)}/events", _model(list[m.RawEvent]))


def admin_events(after_position: int | None = None, limit: int | None = None) -> Call[m.EventPage]:
    params = _query(after_position=after_position, limit=limit)
    return Call("GET", "/v1/admin/events", _model(m.EventPage), params=params)


ADMIN_EVENT_STREAM = "/v1/admin/events/stream"  # NDJSON: Client.stream_admin_events reads it line by line


def dead_letters(view: str | None = None, limit: int | None = None) -> Call[m.DeadLetterList]:
    return Call("GET", "/v1/admin/dead-letters", _model(m.DeadLetterList), params=_query(view=view, limit=limit))


def replay_dead_letters(view: str) -> Call[m.DeadLettersReplayed]:
    return Call("POST", f"/v1/admin/dead-letters/{_seg(view)}/replay", _model(m.DeadLettersReplayed))


def processes() -> Call[m.ProcessList]:
    return Call("GET", "/v1/admin/processes", _model(m.ProcessList))


def close_session(
    session_id: Id, reason: str | None = None, headers: Mapping[str, str] | None = None
) -> Call[m.SessionClosed]:
    path = f"/v1/sessions/{_seg(session_id)}/close"
    return Call("POST", path, _model(m.SessionClosed), json=_body(reason=reason), headers=headers or {})


def fork_session(
    session_id: Id, at_version: int, fork_id: Id | None = None, headers: Mapping[str, str] | None = None
) -> Call[m.SessionForked]:
    path = f"/v1/sessions/{_seg(session_id)}/fork"
    body = _body(at_version=at_version, session_id=str(fork_id) if fork_id else None)
    return Call("POST", path, _model(m.SessionForked), json=body, headers=headers or {})


def cancel_reply(
    session_id: Id, reason: str | None = None, headers: Mapping[str, str] | None = None
) -> Call[m.ReplyCancelled]:
    path = f"/v1/sessions/{_seg(session_id)}/cancel"
    return Call("POST", path, _model(m.ReplyCancelled), json=_body(reason=reason), headers=headers or {})


def invoke_tool(
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    session_id: Id | None = None,
    timeout_ms: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[m.InvocationAccepted]:
    body = _body(arguments=arguments or {}, session_id=str(session_id) if session_id else None, timeout_ms=timeout_ms)
    path = f"/v1/tools/{_seg(name)}/invocations"
    return Call("POST", path, _model(m.InvocationAccepted), json=body, headers=headers or {})


def get_tool_execution(request_id: Id, min_position: int | None = None) -> Call[m.ToolExecution]:
    params = _query(min_position=min_position)
    return Call("GET", f"/v1/tool-executions/{_seg(request_id)}", _model(m.ToolExecution), params=params)


def list_session_tool_executions(session_id: Id) -> Call[m.ToolExecutionList]:
    return Call("GET", f"/v1/sessions/{_seg(session_id)}/tool-executions", _model(m.ToolExecutionList))


def decide_tool_execution(
    request_id: Id, verdict: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Call[m.Recorded]:
    """`verdict` is `approve` (body: `note`) or `deny` (body: `reason`)."""
    path = f"/v1/tool-executions/{_seg(request_id)}/{verdict}"
    return Call("POST", path, _model(m.Recorded), json=body, headers=headers or {})


def set_budget_limit(
    tenant: str, daily_tokens: int, persona_id: str | None = None, headers: Mapping[str, str] | None = None
) -> Call[m.LimitSet]:
    body = _body(daily_tokens=daily_tokens, persona_id=persona_id)
    return Call("PUT", f"/v1/budgets/{_seg(tenant)}/limits", _model(m.LimitSet), json=body, headers=headers or {})


def budget_usage(day: date | str | None = None) -> Call[m.UsageList]:
    return Call("GET", "/v1/budgets", _model(m.UsageList), params=_query(day=day))


def create_task(
    title: str,
    instructions: str,
    *,
    callback_url: str | None = None,
    parent_session_id: Id | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call[m.TaskRecorded]:
    parent = str(parent_session_id) if parent_session_id else None
    body = _body(title=title, instructions=instructions, callback_url=callback_url, parent_session_id=parent)
    return Call("POST", "/v1/delegation/tasks", _model(m.TaskRecorded), json=body, headers=headers or {})


def get_task(task_id: Id, min_position: int | None = None) -> Call[m.Task]:
    params = _query(min_position=min_position)
    return Call("GET", f"/v1/delegation/tasks/{_seg(task_id)}", _model(m.Task), params=params)


def move_task(
    task_id: Id, transition: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Call[m.TaskRecorded]:
    """`transition` is `start` (body: `worker`), `complete` (`result`) or `fail` (`error`)."""
    path = f"/v1/delegation/tasks/{_seg(task_id)}/{transition}"
    return Call("POST", path, _model(m.TaskRecorded), json=body, headers=headers or {})


def _profile_path(role: str, deployment_mode: str) -> str:
    return f"/v1/model-profiles/{_seg(role)}/{_seg(deployment_mode)}"


def put_model_profile(role: str, deployment_mode: str, profile: dict[str, Any]) -> Call[m.ProfileRecorded]:
    return Call("PUT", _profile_path(role, deployment_mode), _model(m.ProfileRecorded), json=_body(**profile))


def get_model_profile(role: str, deployment_mode: str, min_position: int | None = None) -> Call[m.ModelProfile]:
    params = _query(min_position=min_position)
    return Call("GET", _profile_path(role, deployment_mode), _model(m.ModelProfile), params=params)


def delete_model_profile(role: str, deployment_mode: str) -> Call[m.ProfileRecorded]:
    return Call("DELETE", _profile_path(role, deployment_mode), _model(m.ProfileRecorded))


def get_trace(trace_id: str) -> Call[m.Trace]:
    return Call("GET", f"/v1/traces/{_seg(trace_id)}", _model(m.Trace))


def health() -> Call[m.Health]:
    return Call("GET", "/health", _model(m.Health), also=(503,))


def metrics() -> Call[str]:
    return Call("GET", "/metrics", lambda response: response.text)
