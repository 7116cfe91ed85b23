"""Consumer contract of agentlog.client with the agentlog API (Pact V4, HTTP), written from the client's side.

Each test declares what the client sends and what it needs back, then drives the real client
against Pact's mock server (which answers only what was declared and fails on anything else).
The pact is merged into contracts/pacts/agentlog-client-agentlog-api.json; tests/contract/
test_http_pact_verify.py replays it against a running API, with the provider states below set up
through real commands. Ids, the API key and the tenant are provider-state values (`${...}`): the
provider injects its own when it replays a request.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pact import Pact, generate, match
from pact.match.matcher import GenericMatcher

from agentlog.client import AsyncClient, BudgetExhausted, Client, Conflict, NotFound, Unauthorized, ValidationFailed

pytestmark = pytest.mark.contract

PACTS = Path(__file__).resolve().parents[2] / "contracts" / "pacts"
CONSUMER, PROVIDER = "agentlog-client", "agentlog-api"
KEY = "alk_consumer-example-key"
SESSION = "6f1c7b2a-3d4e-4f50-8a61-7b8c9d0e1f23"
REQUEST = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
TASK = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
MISSING = "00000000-0000-4000-8000-000000000404"
FORK = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
TENANT = "acme"
TIME = "2026-12-01T10:00:00Z"
TENANT_STATE = "a tenant whose API key has the admin, approve and platform-admin scopes"


def injected(example: str, expression: str) -> GenericMatcher[str]:
    """`example` in the consumer's test; the provider's own value (from its provider state) when replayed.
    Matched as a regex of `expression` with each `${...}` a token, so paths of sibling routes stay apart."""
    pattern = "^" + re.sub(r"\\\$\\\{\w+\\\}", r"[A-Za-z0-9_.-]+", re.escape(expression)) + "$"
    return GenericMatcher("regex", value=example, regex=pattern, generator=generate.provider_state(expression))


def recorded(**ids: Any) -> dict[str, Any]:
    """A command's answer: what it recorded and where."""
    return {**ids, "event_id": match.uuid("5b0e6d2c-1f3a-4b5c-9d7e-8f9a0b1c2d3e"), "position": match.int(42)}


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:agentlog:problem:{kind}",
        "title": title,
        "status": status,
        "detail": match.str(detail),
    } | extra


def broker_auth() -> httpx.Auth | None:
    """PACT_BROKER_TOKEN (bearer) or PACT_BROKER_USERNAME / PACT_BROKER_PASSWORD (basic), as the verifier reads them."""
    if token := os.environ.get("PACT_BROKER_TOKEN"):
        return BearerAuth(token)
    user = os.environ.get("PACT_BROKER_USERNAME")
    return httpx.BasicAuth(user, os.environ.get("PACT_BROKER_PASSWORD", "")) if user else None


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()


def publish(broker: str, pact_file: Path) -> None:
    """The Pact Broker's publish API: PUT the pact under the consumer version (PACT_CONSUMER_VERSION, else the
    git commit), then record the version's branch (PACT_CONSUMER_BRANCH, else the git branch)."""
    version = os.environ.get("PACT_CONSUMER_VERSION") or git("rev-parse", "HEAD")
    branch = os.environ.get("PACT_CONSUMER_BRANCH") or git("rev-parse", "--abbrev-ref", "HEAD")
    with httpx.Client(base_url=broker.rstrip("/"), auth=broker_auth(), timeout=30) as http:
        put = http.put(f"/pacts/provider/{PROVIDER}/consumer/{CONSUMER}/version/{version}",
                       content=pact_file.read_bytes(), headers={"Content-Type": "application/json"})  # fmt: skip
        put.raise_for_status()
        if branch:
            http.put(f"/pacticipants/{CONSUMER}/branches/{branch}/versions/{version}", json={}).raise_for_status()


@pytest.fixture(scope="module", autouse=True)
def published(request: pytest.FixtureRequest) -> Iterator[None]:
    """After this module's tests wrote the pact, all passing: publish it when PACT_BROKER_BASE_URL names a broker."""
    failed = request.session.testsfailed
    yield
    if (broker := os.environ.get("PACT_BROKER_BASE_URL")) and request.session.testsfailed == failed:
        publish(broker, PACTS / f"{CONSUMER}-{PROVIDER}.json")


@pytest.fixture
def pact() -> Iterator[Pact]:
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    yield pact
    pact.write_file(PACTS)


def expect(pact: Pact, description: str, method: str, path: str, *, states: tuple[tuple[str, dict], ...] = (),
           body: Any = None, query: dict[str, str] | None = None, key: bool = True,
           tenant: bool = True) -> Any:  # fmt: skip
    """An interaction in the tenant's state (unless `tenant` is false) plus `states`; returns it for the response."""
    interaction = pact.upon_receiving(description)
    for state, params in ((TENANT_STATE, {}),) * tenant + states:
        interaction = interaction.given(state, params or None)
    if "${" in path:
        example = path.replace("${session_id}", SESSION).replace("${request_id}", REQUEST)
        example = example.replace("${task_id}", TASK).replace("${tenant}", TENANT)
        interaction = interaction.with_request(method, injected(example, path))
    else:
        interaction = interaction.with_request(method, path)
    if key:
        interaction = interaction.with_header("X-API-Key", injected(KEY, "${api_key}"))
    for name, value in (query or {}).items():
        interaction = interaction.with_query_parameter(name, value)
    if body is not None:
        interaction = interaction.with_body(body, "application/json")
    return interaction


def answer(interaction: Any, status: int, body: Any, content_type: str = "application/json", **headers: Any) -> None:
    interaction = interaction.will_respond_with(status)
    for name, value in headers.items():
        interaction = interaction.with_header(name.replace("_", "-"), value)
    if body is not None:
        interaction.with_body(body, content_type)


def client(url: object) -> Client:
    return Client(str(url), api_key=KEY)


States = tuple[tuple[str, dict], ...]
OPEN_SESSION: States = (("an open session", {}),)
SESSION_OUT = {
    "session_id": match.uuid(SESSION),
    "persona_id": match.str("helper"),
    "status": "open",
    "messages": match.int(1),
    "started_at": match.str(TIME),
    "last_activity": match.str(TIME),
    "closed_at": None,
}
MESSAGE_OUT = {
    "message_id": match.uuid("7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"),
    "role": "user",
    "text": match.str("What changed in the Q3 report?"),
    "attachments": [],
    "metadata": {},
    "at": match.str(TIME),
    "version": match.int(2),
}
EVENT_OUT = {
    "position": match.int(41),
    "version": match.int(1),
    "event_type": match.str("agentlog.session.SessionStarted"),
    "schema_id": match.int(7),
    "schema_version": match.int(1),
    "event_id": match.uuid("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
    "occurred_at": match.str(TIME),
    "correlation_id": match.uuid("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"),
    "data": match.like({"session_id": SESSION}),
}


def test_a_first_message_starts_a_session_and_a_second_one_joins_it(pact: Pact):
    body = {"message": "What changed in the Q3 report?", "persona_id": "helper"}
    started = expect(pact, "a first message, starting a session", "POST", "/v1/session/message", body=body)
    answer(started, 202, recorded(session_id=match.uuid(SESSION)))
    follow_up = {"session_id": injected(SESSION, "${session_id}"), "message": "And in Q4?"}
    joined = expect(pact, "a message to an open session", "POST", "/v1/session/message", states=OPEN_SESSION,
                    body=follow_up)  # fmt: skip
    answer(joined, 202, recorded(session_id=match.uuid(SESSION)))
    with pact.serve() as server, client(server.url) as api:
        first = api.post_message("What changed in the Q3 report?", persona_id="helper")
        second = api.post_message("And in Q4?", session_id=first.session_id)
    assert str(second.session_id) == str(first.session_id) == SESSION and first.position == 42


def test_a_session_its_messages_and_its_events_are_read(pact: Pact):
    path = "/v1/sessions/${session_id}"
    answer(expect(pact, "a read of an open session", "GET", path, states=OPEN_SESSION), 200, SESSION_OUT)
    messages = expect(pact, "a read of a session's messages", "GET", f"{path}/messages", states=OPEN_SESSION,
                      query={"limit": "100"})  # fmt: skip
    answer(messages, 200, {"items": match.each_like(MESSAGE_OUT), "next_cursor": None})
    events = expect(pact, "a read of a session's events", "GET", f"{path}/events", states=OPEN_SESSION)
    answer(events, 200, match.each_like(EVENT_OUT, min=2))
    tools = expect(pact, "a read of a session's tool executions", "GET", f"{path}/tool-executions",
                   states=OPEN_SESSION)  # fmt: skip
    answer(tools, 200, {"items": []})
    with pact.serve() as server, client(server.url) as api:
        session = api.get_session(SESSION)
        (message,) = api.iter_messages(SESSION)
        read = api.list_events(SESSION)
        executions = api.list_session_tool_executions(SESSION)
    assert (session.status, session.closed_at, message.role, executions.items) == ("open", None, "user", [])
    assert read[0].event_type.endswith("SessionStarted") and read[0].version == 1


def test_a_session_is_read_as_it_was_and_forked_there(pact: Pact):
    path = "/v1/sessions/${session_id}"
    then = expect(pact, "a read of an open session at its first version", "GET", path, states=OPEN_SESSION,
                  query={"at_version": "1"})  # fmt: skip
    answer(then, 200, SESSION_OUT | {"messages": match.int(0)})
    forked = expect(pact, "a fork of an open session after its first message", "POST", f"{path}/fork",
                    states=OPEN_SESSION, body={"at_version": 2})  # fmt: skip
    fork_out = {"session_id": match.uuid(FORK), "forked_from": {"session_id": match.uuid(SESSION), "version": 2}}
    answer(forked, 202, recorded(**fork_out))
    with pact.serve() as server, client(server.url) as api:
        first = api.get_session(SESSION, at_version=1)
        fork = api.fork_session(SESSION, 2)
    assert (first.messages, first.status) == (0, "open")
    assert (str(fork.session_id), str(fork.forked_from.session_id), fork.forked_from.version) == (FORK, SESSION, 2)


def test_the_callers_sessions_are_listed_a_page_at_a_time(pact: Pact):
    alone: States = (("a tenant whose API key has one open session", {}),)  # its own tenant: no other test's sessions
    listed = expect(pact, "a page of the caller's sessions", "GET", "/v1/sessions", states=alone, tenant=False,
                    query={"limit": "20"})  # fmt: skip
    answer(listed, 200, {"items": match.each_like(SESSION_OUT), "next_cursor": None})
    with pact.serve() as server, client(server.url) as api:
        sessions = list(api.iter_sessions(page_size=20))
    assert [str(s.session_id) for s in sessions] == [SESSION]


async def test_replies_are_cancelled_and_the_session_closed(pact: Pact):
    path = "/v1/sessions/${session_id}"
    cancel = expect(pact, "a cancel of a session's replies", "POST", f"{path}/cancel", states=OPEN_SESSION,
                    body={"reason": "enough"})  # fmt: skip
    answer(cancel, 202, recorded(session_id=match.uuid(SESSION)))
    close = expect(pact, "a close of an open session", "POST", f"{path}/close", states=OPEN_SESSION,
                   body={"reason": "done"})  # fmt: skip
    answer(close, 202, recorded(session_id=match.uuid(SESSION)))
    with pact.serve() as server:
        async with AsyncClient(str(server.url), api_key=KEY) as api:
            cancelled = await api.cancel_reply(SESSION, reason="enough")
            closed = await api.close_session(SESSION, reason="done")
    assert str(cancelled.session_id) == str(closed.session_id) == SESSION


def test_refusals_are_problems_the_client_raises(pact: Pact):
    missing = expect(pact, "a read of a session that does not exist", "GET", f"/v1/sessions/{MISSING}")
    answer(missing, 404, problem(404, "not-found", "Not found", f"session {MISSING} not found"),
           "application/problem+json")  # fmt: skip
    empty = expect(pact, "an empty message", "POST", "/v1/session/message", body={"message": ""})
    each = match.each_like({"field": "message", "message": match.str("String should have at least 1 character")})
    invalid = problem(422, "validation", "Invalid request", "message: too short", field="message", errors=each)
    answer(empty, 422, invalid, "application/problem+json")
    spent = expect(pact, "a message to a persona whose budget is spent", "POST", "/v1/session/message",
                   states=(("persona frugal has a daily budget of 0 tokens", {}),),
                   body={"message": "hi", "persona_id": "frugal"})  # fmt: skip
    answer(spent, 429, problem(429, "budget-exhausted", "Too many tokens", "the budget of persona frugal is spent"),
           "application/problem+json", Retry_After=match.regex("3600", regex=r"^\d+$"))  # fmt: skip
    anonymous = expect(pact, "a read of the sessions without credentials", "GET", "/v1/sessions", key=False)
    answer(anonymous, 401, problem(401, "unauthorized", "Unauthorized", "no credentials"), "application/problem+json")
    with pact.serve() as server, client(server.url) as api:
        with pytest.raises(NotFound) as not_found:
            api.get_session(MISSING)
        with pytest.raises(ValidationFailed) as validation:
            api.post_message("")
        with pytest.raises(BudgetExhausted) as budget:
            api.post_message("hi", persona_id="frugal")
        with Client(str(server.url)) as nobody, pytest.raises(Unauthorized):
            nobody.list_sessions()
    assert not_found.value.type == "urn:agentlog:problem:not-found" and not_found.value.status == 404
    assert validation.value.field == "message" and validation.value.errors[0]["field"] == "message"
    assert budget.value.retry_after == 3600 and budget.value.status == 429


def test_a_tool_execution_is_invoked_read_approved_and_denied(pact: Pact):
    invoke = expect(pact, "a tool invocation", "POST", "/v1/tools/calculator/invocations",
                    body={"arguments": {"expression": "6*7"}, "timeout_ms": 5000})  # fmt: skip
    answer(invoke, 202, recorded(request_id=match.uuid(REQUEST)))
    waiting: States = (("a tool execution awaiting approval", {}),)
    path = "/v1/tool-executions/${request_id}"
    execution = {
        "request_id": match.uuid(REQUEST),
        "tool_name": "echo",
        "arguments": {"text": "hello"},
        "session_id": None,
        "status": "awaiting_approval",
        "decision": "approve",
        "decision_reason": match.str("a person approves this tool"),
        "approval_expires_at": match.str(TIME),
    }
    answer(expect(pact, "a read of a tool execution awaiting approval", "GET", path, states=waiting), 200, execution)
    approve = expect(pact, "an approval of a tool execution awaiting approval", "POST", f"{path}/approve",
                     states=waiting, body={"note": "fine"})  # fmt: skip
    answer(approve, 202, recorded())
    deny = expect(pact, "a denial of a tool execution awaiting approval", "POST", f"{path}/deny", states=waiting,
                  body={"reason": "not this one"})  # fmt: skip
    answer(deny, 202, recorded())
    with pact.serve() as server, client(server.url) as api:
        invoked = api.invoke_tool("calculator", {"expression": "6*7"}, timeout_ms=5000)
        read = api.get_tool_execution(REQUEST)
        approved = api.approve_tool_execution(REQUEST, note="fine")
        denied = api.deny_tool_execution(REQUEST, reason="not this one")
    assert str(invoked.request_id) == REQUEST and (read.status, read.decision) == ("awaiting_approval", "approve")
    assert approved.position == denied.position == 42


def test_budgets_are_set_and_usage_read(pact: Pact):
    limit = expect(pact, "a daily token limit set by the tenant's admin", "PUT", "/v1/budgets/${tenant}/limits",
                   body={"daily_tokens": 50000, "persona_id": "helper"})  # fmt: skip
    answer(limit, 200, recorded(tenant_id=match.str(TENANT), persona_id="helper", daily_tokens=50000))
    usage = expect(pact, "a read of the caller's usage on a day without any", "GET", "/v1/budgets",
                   query={"day": "2026-01-01"})  # fmt: skip
    answer(usage, 200, {"items": []})
    with pact.serve() as server, client(server.url) as api:
        set_ = api.set_budget_limit(TENANT, 50000, persona_id="helper")
        used = api.budget_usage(day="2026-01-01")
    assert (set_.tenant_id, set_.daily_tokens, used.items) == (TENANT, 50000, [])


PROFILE = {"model": "gpt-4o-mini", "base_url": "https://llm.example.com", "api_path": "/v1/chat/completions",
           "temperature": 0.2, "extras": {"max_tokens": "1024"}}  # fmt: skip


def test_model_profiles_are_set_read_and_removed(pact: Pact):
    path = "/v1/model-profiles/summarizer/cloud"
    put = expect(pact, "a model profile set by a platform admin", "PUT", path, body=PROFILE)
    answer(put, 200, recorded(role="summarizer", deployment_mode="cloud"))
    exists: States = (("a model profile for summarizer in cloud", {}),)
    read = expect(pact, "a read of a model profile", "GET", path, states=exists)
    answer(
        read, 200, {"role": "summarizer", "deployment_mode": "cloud"} | {k: match.like(v) for k, v in PROFILE.items()}
    )
    removed = expect(pact, "a removal of a model profile", "DELETE", path, states=exists)
    answer(removed, 200, recorded(role="summarizer", deployment_mode="cloud"))
    with pact.serve() as server, client(server.url) as api:
        api.put_model_profile("summarizer", "cloud", **PROFILE)
        profile = api.get_model_profile("summarizer", "cloud")
        api.delete_model_profile("summarizer", "cloud")
    assert (profile.model, profile.extras) == ("gpt-4o-mini", {"max_tokens": "1024"})


TASK_OUT = {
    "task_id": match.uuid(TASK),
    "status": "queued",
    "title": match.str("Summarise the Q3 report"),
    "instructions": match.str("Three bullet points."),
    "parent_session_id": None,
    "worker": None,
    "result": None,
    "error": None,
    "callback_url": None,
    "callback_delivered": False,
    "callback_status_code": None,
    "callback_attempts": 0,
}


def test_a_delegation_task_is_created_read_and_moved_along(pact: Pact):
    body = {"title": "Summarise the Q3 report", "instructions": "Three bullet points."}
    answer(expect(pact, "a delegation task", "POST", "/v1/delegation/tasks", body=body), 202,
           recorded(task_id=match.uuid(TASK)))  # fmt: skip
    queued: States = (("a queued task", {}),)
    running: States = (("a running task", {}),)
    path = "/v1/delegation/tasks/${task_id}"
    answer(expect(pact, "a read of a queued task", "GET", path, states=queued), 200, TASK_OUT)
    start = expect(pact, "a start of a queued task", "POST", f"{path}/start", states=queued, body={"worker": "w-7"})
    answer(start, 202, recorded(task_id=match.uuid(TASK)))
    done = expect(pact, "a completion of a running task", "POST", f"{path}/complete", states=running,
                  body={"result": "- up 4%"})  # fmt: skip
    answer(done, 202, recorded(task_id=match.uuid(TASK)))
    failed = expect(pact, "a failure of a running task", "POST", f"{path}/fail", states=running,
                    body={"error": "source unavailable"})  # fmt: skip
    answer(failed, 202, recorded(task_id=match.uuid(TASK)))
    early = expect(pact, "a completion of a queued task", "POST", f"{path}/complete", states=queued,
                   body={"result": "too early"})  # fmt: skip
    answer(early, 409, problem(409, "state-conflict", "Conflict", "task is queued, not running"),
           "application/problem+json")  # fmt: skip
    with pact.serve() as server, client(server.url) as api:
        created = api.create_task("Summarise the Q3 report", "Three bullet points.")
        task = api.get_task(TASK)
        api.start_task(TASK, "w-7")
        api.complete_task(TASK, "- up 4%")
        api.fail_task(TASK, "source unavailable")
        with pytest.raises(Conflict) as conflict:
            api.complete_task(TASK, "too early")
    assert str(created.task_id) == TASK and (task.status, task.worker) == ("queued", None)
    assert conflict.value.type == "urn:agentlog:problem:state-conflict"


def test_a_trace_nobody_kept_is_a_problem_the_client_raises(pact: Pact):
    # a kept trace needs spans recorded by a traced process (tests/integration/test_tracing.py reads those)
    unknown = "0af7651916cd43dd8448eb211c80319c"
    missing = expect(pact, "a read of a trace that is not kept", "GET", f"/v1/traces/{unknown}")
    answer(missing, 404, problem(404, "not-found", "Not found", f"trace {unknown} not found"),
           "application/problem+json")  # fmt: skip
    with pact.serve() as server, client(server.url) as api, pytest.raises(NotFound) as not_found:
        api.get_trace(unknown)
    assert not_found.value.status == 404
