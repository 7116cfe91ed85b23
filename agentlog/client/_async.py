"""The asyncio client: `AsyncClient(base_url, api_key=...)`, the same methods as `Client`, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agentlog.client import models as m
from agentlog.client import routes as r
from agentlog.client._base import DEFAULT_TIMEOUT, answer, base_headers, refused, request_args
from agentlog.client.errors import problem_of
from agentlog.client.streams import SseDecoder, socket_event, websocket_url

T = TypeVar("T")


class AsyncClient:
    """An asyncio agentlog API client over httpx; use as an async context manager, or await `aclose()`.

    Every method raises an `agentlog.client.errors.ApiProblem` subclass when the API answers an
    error. Commands take `idempotency_key` (retries with the same key record nothing twice) and
    return what they recorded, whose `position` a read's `min_position` waits for.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = base_headers(api_key, token)
        self._http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self._http.headers.update(self._headers)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: r.Call[T]) -> T:
        """Send one Call (see `agentlog.client.routes`) and return its parsed answer."""
        return answer(call, await self._http.request(call.method, call.path, **request_args(call)))  # type: ignore[arg-type]

    # sessions
    async def post_message(
        self, message: str, *, session_id: r.Id | None = None, idempotency_key: str | None = None,
        traceparent: str | None = None, **fields: Any,
    ) -> m.MessageAccepted:  # fmt: skip
        """Post a user message to `session_id`, or start a session with it when no id is given
        (`persona_id`, `attachments`, `metadata` may be passed)."""
        headers = r.command_headers(idempotency_key, traceparent)
        return await self.send(r.post_message(message, session_id=session_id, headers=headers, **fields))

    async def list_sessions(self, *, limit: int | None = None, cursor: str | None = None) -> m.SessionPage:
        return await self.send(r.list_sessions(limit, cursor))

    async def iter_sessions(self, *, page_size: int = 50) -> AsyncIterator[m.Session]:
        """Every session of the caller's, most recently active first, fetched a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_sessions(limit=page_size, cursor=cursor)
            for item in page.items:
                yield item
            if not (cursor := page.next_cursor):
                return

    async def get_session(
        self, session_id: r.Id, *, min_position: int | None = None, at_version: int | None = None
    ) -> m.Session:
        """The session; with `at_version`, as it was after its event of that version (time travel)."""
        return await self.send(r.get_session(session_id, min_position, at_version))

    async def list_messages(
        self, session_id: r.Id, *, limit: int | None = None, cursor: str | None = None, min_position: int | None = None
    ) -> m.MessagePage:
        return await self.send(r.list_messages(session_id, limit, cursor, min_position))

    async def iter_messages(
        self, session_id: r.Id, *, page_size: int = 100, min_position: int | None = None
    ) -> AsyncIterator[m.Message]:
        """Every message of the session in order, fetched a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_messages(session_id, limit=page_size, cursor=cursor, min_position=min_position)
            for item in page.items:
                yield item
            if not (cursor := page.next_cursor):
                return

    async def list_events(self, session_id: r.Id) -> list[m.RawEvent]:
        return await self.send(r.list_events(session_id))

    async def list_admin_events(self, *, after_position: int | None = None, limit: int | None = None) -> m.EventPage:
        """A page of the tenant's events in position order (admin), up to where the log is settled."""
        return await self.send(r.admin_events(after_position, limit))

    async def iter_admin_events(self, *, after_position: int = 0, page_size: int = 500) -> AsyncIterator[m.LoggedEvent]:
        """The tenant's events after `after_position`, a page at a time, until caught up (admin)."""
        cursor: str | None = str(after_position)
        while cursor is not None:
            page = await self.list_admin_events(after_position=int(cursor), limit=page_size)
            for event in page.items:
                yield event
            cursor = page.next_cursor

    async def list_dead_letters(self, *, view: str | None = None, limit: int | None = None) -> m.DeadLetterList:
        """Each view's dead letters not replayed yet: how many, and the oldest `limit` (platform-admin)."""
        return await self.send(r.dead_letters(view, limit))

    async def replay_dead_letters(self, view: str) -> m.DeadLettersReplayed:
        """Apply a view's pending dead letters again, once their cause is fixed (platform-admin)."""
        return await self.send(r.replay_dead_letters(view))

    async def list_processes(self) -> m.ProcessList:
        """The supervisor's processes: pid, state, restarts, last exit (platform-admin)."""
        return await self.send(r.processes())

    async def stream_admin_events(self, *, after_position: int = 0) -> AsyncIterator[m.LoggedEvent]:
        """The same as one NDJSON response, read line by line (admin)."""
        params = {"after_position": str(after_position)}
        async with self._http.stream("GET", r.ADMIN_EVENT_STREAM, params=params, timeout=None) as got:
            if got.is_error:
                await got.aread()
                raise problem_of(got)
            async for line in got.aiter_lines():
                if line:
                    yield m.LoggedEvent.model_validate_json(line)

    async def close_session(
        self, session_id: r.Id, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> m.SessionClosed:
        return await self.send(r.close_session(session_id, reason, r.command_headers(idempotency_key, None)))

    async def fork_session(
        self, session_id: r.Id, at_version: int, *, fork_id: r.Id | None = None, idempotency_key: str | None = None
    ) -> m.SessionForked:
        """A new session (`fork_id`, else a new id) whose history is this one's up to `at_version`."""
        headers = r.command_headers(idempotency_key, None)
        return await self.send(r.fork_session(session_id, at_version, fork_id, headers))

    async def cancel_reply(
        self, session_id: r.Id, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> m.ReplyCancelled:
        return await self.send(r.cancel_reply(session_id, reason, r.command_headers(idempotency_key, None)))

    async def stream(self, session_id: r.Id, *, last_event_id: str | None = None) -> AsyncIterator[m.StreamEvent]:
        """The session's transcript updates as Server-Sent Events, ending after `closed`."""
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        timeout = httpx.Timeout(None, connect=5.0)  # the server sends a keep-alive every 15 s; a reply may be slow
        async with self._http.stream(
            "GET", f"/v1/sessions/{session_id}/stream", headers=headers, timeout=timeout
        ) as got:
            if got.is_error:
                await got.aread()
                raise problem_of(got)
            decoder = SseDecoder()
            async for line in got.aiter_lines():
                if (event := decoder.feed(line)) is not None:
                    yield event

    async def websocket(self, session_id: r.Id, *, last_event_id: str | None = None) -> AsyncIterator[m.StreamEvent]:
        """The same updates over the session's WebSocket; a refusal (4401, 4404, 4422) raises its problem."""
        url = websocket_url(self.base_url, str(session_id), last_event_id)
        async with connect(url, additional_headers=self._headers, open_timeout=10) as socket:
            try:
                async for text in socket:
                    yield socket_event(text)
            except ConnectionClosed:
                pass
            if problem := refused(socket.close_code, socket.close_reason):
                raise problem

    # tools
    async def invoke_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, session_id: r.Id | None = None,
        timeout_ms: int | None = None, idempotency_key: str | None = None,
    ) -> m.InvocationAccepted:  # fmt: skip
        headers = r.command_headers(idempotency_key, None)
        return await self.send(
            r.invoke_tool(name, arguments, session_id=session_id, timeout_ms=timeout_ms, headers=headers)
        )

    async def get_tool_execution(self, request_id: r.Id, *, min_position: int | None = None) -> m.ToolExecution:
        return await self.send(r.get_tool_execution(request_id, min_position))

    async def list_session_tool_executions(self, session_id: r.Id) -> m.ToolExecutionList:
        return await self.send(r.list_session_tool_executions(session_id))

    async def approve_tool_execution(self, request_id: r.Id, *, note: str | None = None) -> m.Recorded:
        return await self.send(r.decide_tool_execution(request_id, "approve", {"note": note} if note else {}))

    async def deny_tool_execution(self, request_id: r.Id, *, reason: str | None = None) -> m.Recorded:
        return await self.send(r.decide_tool_execution(request_id, "deny", {"reason": reason} if reason else {}))

    # budgets
    async def set_budget_limit(self, tenant: str, daily_tokens: int, *, persona_id: str | None = None) -> m.LimitSet:
        return await self.send(r.set_budget_limit(tenant, daily_tokens, persona_id))

    async def budget_usage(self, *, day: date | str | None = None) -> m.UsageList:
        return await self.send(r.budget_usage(day))

    # delegation
    async def create_task(
        self, title: str, instructions: str, *, callback_url: str | None = None,
        parent_session_id: r.Id | None = None, idempotency_key: str | None = None,
    ) -> m.TaskRecorded:  # fmt: skip
        headers = r.command_headers(idempotency_key, None)
        call = r.create_task(
            title, instructions, callback_url=callback_url, parent_session_id=parent_session_id, headers=headers
        )
        return await self.send(call)

    async def get_task(self, task_id: r.Id, *, min_position: int | None = None) -> m.Task:
        return await self.send(r.get_task(task_id, min_position))

    async def start_task(self, task_id: r.Id, worker: str) -> m.TaskRecorded:
        return await self.send(r.move_task(task_id, "start", {"worker": worker}))

    async def complete_task(self, task_id: r.Id, result: str) -> m.TaskRecorded:
        return await self.send(r.move_task(task_id, "complete", {"result": result}))

    async def fail_task(self, task_id: r.Id, error: str) -> m.TaskRecorded:
        return await self.send(r.move_task(task_id, "fail", {"error": error}))

    # model profiles
    async def put_model_profile(self, role: str, deployment_mode: str, **profile: Any) -> m.ProfileRecorded:
        """Set a profile: `model`, `base_url`, `api_path`, `temperature`, optional `extras` (platform-admin)."""
        return await self.send(r.put_model_profile(role, deployment_mode, profile))

    async def get_model_profile(
        self, role: str, deployment_mode: str, *, min_position: int | None = None
    ) -> m.ModelProfile:
        return await self.send(r.get_model_profile(role, deployment_mode, min_position))

    async def delete_model_profile(self, role: str, deployment_mode: str) -> m.ProfileRecorded:
        return await self.send(r.delete_model_profile(role, deployment_mode))

    async def get_trace(self, trace_id: str) -> m.Trace:
        """A trace's spans (32 hex digits: the trace id of a `traceparent`), sorted by start, for a waterfall."""
        return await self.send(r.get_trace(trace_id))

    # operations
    async def health(self) -> m.Health:
        """The server's health (also when it answers 503 because a dependency is down)."""
        return await self.send(r.health())

    async def metrics(self) -> str:
        return await self.send(r.metrics())
