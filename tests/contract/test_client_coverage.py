"""agentlog.client covers every operation of the API's OpenAPI document, so a new route cannot go unwrapped."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentlog.client import routes
from api.app import create_app

pytestmark = pytest.mark.contract

ID = "6f1c7b2a-3d4e-4f50-8a61-7b8c9d0e1f23"
CALLS: list[routes.Call[Any]] = [
    routes.post_message("hi"),
    routes.list_sessions(),
    routes.get_session(ID),
    routes.list_messages(ID),
    routes.list_events(ID),
    routes.close_session(ID),
    routes.cancel_reply(ID),
    routes.fork_session(ID, 2),
    routes.invoke_tool("echo"),
    routes.get_tool_execution(ID),
    routes.list_session_tool_executions(ID),
    routes.decide_tool_execution(ID, "approve", {}),
    routes.decide_tool_execution(ID, "deny", {}),
    routes.set_budget_limit("acme", 1),
    routes.budget_usage(),
    routes.create_task("t", "i"),
    routes.get_task(ID),
    *(routes.move_task(ID, step, {}) for step in ("start", "complete", "fail")),
    routes.put_model_profile("r", "m", {}),
    routes.get_model_profile("r", "m"),
    routes.delete_model_profile("r", "m"),
    routes.admin_events(),
    routes.dead_letters(),
    routes.replay_dead_letters("sessions"),
    routes.processes(),
    routes.get_trace("4bf92f3577b34da6a3ce929d0e0e4736"),
    routes.health(),
    routes.metrics(),
]
# read as streams (Client.stream and .stream_admin_events, and their async twins), not as a Call
STREAMED = {("GET", "/v1/sessions/{session_id}/stream"), ("GET", routes.ADMIN_EVENT_STREAM)}


def operations() -> set[tuple[str, str]]:
    document = create_app().openapi()
    methods = {"get", "put", "post", "delete", "patch"}
    return {(m.upper(), path) for path, item in document["paths"].items() for m in item if m in methods}


def test_every_operation_of_the_openapi_document_has_a_client_call():
    sent = {(call.method, call.path) for call in CALLS}

    def wrapped(method: str, template: str) -> bool:
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        return any(m == method and pattern.match(path) for m, path in sent)

    missing = {op for op in operations() - STREAMED if not wrapped(*op)}
    assert not missing, f"operations the client does not wrap: {sorted(missing)}"
