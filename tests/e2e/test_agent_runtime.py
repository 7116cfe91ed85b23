"""The agent runtime end to end: api, relay, projections and the three workers each as its own OS process on the
real servers, driven through the REST API as a user would, read back through SSE, Kafka (Avro via the registry)
and a loopback webhook receiver."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from contracts.routing import OUTBOUND, TOOL_REQUESTS
from stack.config import REPO_ROOT as REPO
from tests.support.cli import child_env
from tests.support.conversation import events, post, wait_for_reply
from tests.support.processes import until
from tests.support.reading import Update, sse
from tests.support.runtime import WORKERS, Runtime, running_runtime
from tests.support.tools import allowing
from tests.support.webhooks import Receiver
from workers.conversation.deterministic import ABOUT, DeterministicResponder
from workers.conversation.deterministic import chunks as pieces
from workers.conversation.responder import ToolCall, Turn
from workers.runtime import id_for

pytestmark = pytest.mark.e2e

CHUNK_DELAY = "0.2"  # seconds between the deterministic responder's chunks: a reply can be killed mid-way


@pytest.fixture(scope="module")
def runtime(servers, registry, tmp_path_factory) -> Iterator[Runtime]:
    """Every agentlog process, started once for the module; each stops cleanly on SIGTERM at the end."""
    with running_runtime(servers, registry, tmp_path_factory.mktemp("runtime"), CHUNK_DELAY) as runtime:
        yield runtime
        stopped = runtime.stop()
    # uvicorn ends a graceful shutdown on SIGTERM by raising the signal again: -15 is its clean exit
    codes = {name: code for name, (code, _, _) in stopped.items()}
    assert codes == {**dict.fromkeys(stopped, 0), "api": -signal.SIGTERM}, stopped
    for name in WORKERS:
        assert f"worker '{name}' stopped after handling" in stopped[name][1]


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runtime.url, timeout=10) as client:
        yield client


def asked(client: httpx.Client, headers: dict[str, str], text: str, **extra: Any) -> dict[str, Any]:
    """POST a user message (202 expected): its session_id, event_id and position."""
    posted = post(client, headers, text, **extra)
    assert posted.status_code == 202, posted.text
    return dict(posted.json())


def shown(client: httpx.Client, headers: dict[str, str], message: dict[str, Any]) -> str:
    """The message's session id once the read side shows the session (`min_position` waits a while: a 412 after
    that is asked again)."""
    session, after = message["session_id"], {"min_position": message["position"]}
    until(lambda: client.get(f"/v1/sessions/{session}", params=after, headers=headers).is_success, "the session")
    return str(session)


def showing(*wanted: tuple[str, str | None]) -> Callable[[list[Update]], bool]:
    """Whether an SSE stream showed every (kind, role) of `wanted` (as often as listed): updates come from two
    topics, so a reply can show before the message it answers."""

    def done(seen: list[Update]) -> bool:
        shown = Counter((kind, data.get("role")) for kind, data in seen)
        return all(shown[what] >= times for what, times in Counter(wanted).items())

    return done


def tool_call(message: dict[str, Any], step: int = 0, index: int = 0) -> str:
    """The id of the tool execution the worker requests for `message`, derived from its event id."""
    return str(id_for(uuid.UUID(message["event_id"]), f"tool:{step}:{index}"))


def execution(client: httpx.Client, headers: dict[str, str], request_id: str, *statuses: str) -> dict[str, Any]:
    """The tool execution once its status is one of `statuses` (default: any outcome)."""
    wanted = statuses or ("completed", "failed", "timed_out", "denied")

    def reached() -> dict[str, Any] | None:
        found = client.get(f"/v1/tool-executions/{request_id}", headers=headers)
        return found.json() if found.status_code == 200 and found.json()["status"] in wanted else None

    return until(reached, f"tool execution {request_id} reaching {wanted}", 60, every=0.05)


def assistant_records(runtime: Runtime, session: str) -> list[dict[str, Any]]:
    """The session's final assistant messages on conversation.outbound, as an Avro consumer reads them."""
    return [
        value
        for name, value in runtime.records(OUTBOUND)
        if name == "MessagePosted" and str(value["session_id"]) == session and value["role"] == "assistant"
    ]


def test_a_message_gets_its_reply_on_the_outbound_topic_and_in_the_sse_stream_as_chunks_then_whole(runtime, client):
    _, key = runtime.tenant()
    session = shown(client, key, asked(client, key, "Hello, who are you?"))

    updates = sse(client, key, session, showing(("message", "user"), ("message", "assistant")))
    chunks = [data for kind, data in updates if kind == "chunk"]
    replying = [kind for kind, data in updates if data.get("role") != "user"]  # the reply's own order (one topic)
    assert replying == [*["chunk"] * len(chunks), "message"] and len(chunks) > 5
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["text"] for c in chunks) == ABOUT
    [user] = [data for _, data in updates if data.get("role") == "user"]
    reply = updates[-1][1]
    assert (user["role"], user["text"]) == ("user", "Hello, who are you?")
    assert (reply["text"], reply["metadata"]["status"]) == (ABOUT, "answered")

    [record] = until(lambda: assistant_records(runtime, session), "the reply on conversation.outbound")
    assert (record["text"], str(record["message_id"])) == (ABOUT, reply["message_id"])
    assert record["metadata"]["in_reply_to"] == user["message_id"]


def test_a_calculation_and_an_echo_run_their_tools_and_the_replies_say_the_results(runtime, client):
    _, key = runtime.tenant()
    calculate = asked(client, key, "Calculate 2 + 2")
    session = calculate["session_id"]

    four = execution(client, key, tool_call(calculate))
    assert (four["tool_name"], four["status"], four["result"]["result"]) == ("calculator", "completed", "4")
    assert (four["decision"], four["decision_policy"], four["session_id"]) == ("allow", "rego:default.rego", session)
    assert [r["text"] for r in wait_for_reply(client, key, session, timeout=60)] == ["2 + 2 = 4"]

    echo = asked(client, key, "echo hello", session_id=session)
    said = execution(client, key, tool_call(echo))
    assert (said["tool_name"], said["status"], said["result"]) == ("echo", "completed", {"text": "hello"})
    assert [r["text"] for r in wait_for_reply(client, key, session, count=2, timeout=60)] == ["2 + 2 = 4", "hello"]


def test_an_exhausted_budget_is_an_explicit_reply_and_the_next_message_a_429(runtime, client):
    tenant, key = runtime.tenant("admin")
    limit = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 20}, headers=key)
    assert limit.status_code == 200, limit.text
    session = asked(client, key, "Tell me about yourself")["session_id"]

    [reply] = wait_for_reply(client, key, session, timeout=60)
    assert reply["metadata"]["status"] == "budget_exhausted"
    assert reply["text"].startswith("I cannot answer: the token budget of default") and "is exhausted" in reply["text"]
    assert "20 of 20 are left" in reply["text"]
    refused = post(client, key, "and now?", session_id=session)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0 and refused.json()["type"].endswith("budget-exhausted")
    elsewhere = post(client, key, "a new session then?")  # the tenant's default persona is exhausted for the day
    assert elsewhere.status_code == 429


def test_policy_denies_a_tool_and_a_person_approves_or_denies_another_and_the_conversation_goes_on(runtime, client):
    tenant, key = runtime.tenant("approve", policy=allowing("timestamp", approve=("echo",)))
    first = asked(client, key, "Calculate 2 + 2")
    session = first["session_id"]

    denied = execution(client, key, tool_call(first))
    assert (denied["status"], denied["reason"], denied["policy"]) == (
        "denied",
        "not listed for this tenant",
        f"rego:{tenant}.rego",
    )
    [reply] = wait_for_reply(client, key, session, timeout=60)
    assert reply["text"] == "The calculator tool denied: not listed for this tenant"

    approve = asked(client, key, "echo ship it", session_id=session)
    waiting = execution(client, key, tool_call(approve), "awaiting_approval")
    assert (waiting["decision"], waiting["decision_reason"]) == ("approve", "a person approves this tool")
    answered = client.post(f"/v1/tool-executions/{tool_call(approve)}/approve", json={"note": "ok"}, headers=key)
    assert answered.status_code == 202, answered.text
    done = execution(client, key, tool_call(approve))
    assert (done["status"], done["result"], done["approval_note"]) == ("completed", {"text": "ship it"}, "ok")
    assert wait_for_reply(client, key, session, count=2, timeout=60)[-1]["text"] == "ship it"

    refuse = asked(client, key, "echo not this one", session_id=session)
    execution(client, key, tool_call(refuse), "awaiting_approval")
    said_no = client.post(f"/v1/tool-executions/{tool_call(refuse)}/deny", json={"reason": "not today"}, headers=key)
    assert said_no.status_code == 202, said_no.text
    ended = execution(client, key, tool_call(refuse))
    assert (ended["status"], ended["reason"], ended["policy"]) == ("denied", "not today", "human approval")
    assert wait_for_reply(client, key, session, count=3, timeout=60)[-1]["text"] == "The echo tool denied: not today"


def test_cancel_during_a_reply_waiting_on_approval_shows_cancelled_and_the_next_message_is_answered(runtime, client):
    _, key = runtime.tenant("approve", policy=allowing("calculator", approve=("echo",)))
    waiting = asked(client, key, "echo wait for me")
    session = shown(client, key, waiting)
    execution(client, key, tool_call(waiting), "awaiting_approval")

    cancelled = client.post(f"/v1/sessions/{session}/cancel", json={"reason": "enough"}, headers=key)
    assert cancelled.status_code == 202, cancelled.text
    asked(client, key, "Calculate 1 + 1", session_id=session)

    user, said = ("message", "user"), ("message", "assistant")
    updates = sse(client, key, session, showing(user, ("cancelled", None), user, said))
    in_order = sorted(updates, key=lambda update: update[1]["version"])
    kinds = [(kind, data.get("role")) for kind, data in in_order]
    assert kinds[:3] == [user, ("cancelled", None), user], kinds
    assert kinds[-1] == said and in_order[-1][1]["text"] == "1 + 1 = 2"
    assert [r["text"] for r in wait_for_reply(client, key, session)] == ["1 + 1 = 2"]  # nothing was said before
    assert execution(client, key, tool_call(waiting), "awaiting_approval")  # the cancelled reply asks no more


def test_another_tenant_gets_404_for_a_session_its_stream_and_its_tool_executions(runtime, client):
    _, owner = runtime.tenant("approve")
    _, stranger = runtime.tenant("approve", "admin")
    message = asked(client, owner, "Calculate 3 * 5")
    session, request = message["session_id"], tool_call(message)
    assert execution(client, owner, request)["status"] == "completed"  # the owner sees it all first
    until(lambda: len(client.get(f"/v1/sessions/{session}/messages", headers=owner).json().get("items", [])) == 2,
          "the owner reading the reply")  # fmt: skip
    with client.stream("GET", f"/v1/sessions/{session}/stream", headers=owner) as own:
        assert own.status_code == 200

    for path in ("", "/messages", "/events", "/stream"):
        assert client.get(f"/v1/sessions/{session}{path}", headers=stranger).status_code == 404, path
    assert client.get(f"/v1/tool-executions/{request}", headers=stranger).status_code == 404
    assert client.post(f"/v1/tool-executions/{request}/deny", headers=stranger).status_code == 404
    assert client.post(f"/v1/sessions/{session}/cancel", headers=stranger).status_code == 404
    assert post(client, stranger, "mine now", session_id=session).status_code == 404
    assert session not in {s["session_id"] for s in client.get("/v1/sessions", headers=stranger).json()["items"]}


def test_a_task_ended_through_the_api_reaches_its_receiver_signed_and_shows_delivered(runtime, client):
    _, key = runtime.tenant()
    with Receiver() as receiver:
        created = client.post(
            "/v1/delegation/tasks",
            json={"title": "Q3 summary", "instructions": "three bullets", "callback_url": receiver.url},
            headers=key,
        )
        assert created.status_code == 202, created.text
        task = created.json()["task_id"]
        assert client.post(f"/v1/delegation/tasks/{task}/start", json={"worker": "w-1"}, headers=key).is_success
        done = client.post(f"/v1/delegation/tasks/{task}/complete", json={"result": "- up 4%"}, headers=key)
        assert done.status_code == 202, done.text

        until(lambda: receiver.received, "the callback", timeout=90)
        [request] = receiver.received
    body = Webhook(runtime.secret).verify(request.body, request.headers)
    assert (body["data"]["task_id"], body["data"]["status"], body["data"]["result"]) == (task, "completed", "- up 4%")

    def delivered() -> dict | None:
        row = client.get(f"/v1/delegation/tasks/{task}", headers=key).json()
        return row if row.get("callback_delivered") else None

    row = until(delivered, "the task showing its callback delivered")
    assert row["callback_status_code"] == 204


@pytest.mark.faults  # the worker process SIGKILLed mid-message
def test_a_conversation_worker_killed_mid_message_answers_each_once_after_a_restart(runtime, client):
    _, key = runtime.tenant("approve", policy=allowing("calculator", approve=("echo",)))
    waiting = asked(client, key, "echo hello")  # waits on a person's approval when the worker dies
    execution(client, key, tool_call(waiting), "awaiting_approval")
    talking = asked(client, key, "Hello there")  # streams its reply when the worker dies
    untold, told = waiting["session_id"], talking["session_id"]

    def chunks() -> list[dict]:
        return [e["data"] for e in events(client, key, told) if e["event_type"].endswith("AssistantReplyChunk")]

    until(lambda: len(chunks()) >= 2, "two chunks of the reply", 60, every=0.02)
    runtime.processes.kill("conversation")
    assert len(chunks()) < len(pieces(ABOUT)), "the reply ended before the kill"
    runtime.processes.restart("conversation")
    runtime.processes.ready("conversation", "worker 'conversation' running")
    approved = client.post(f"/v1/tool-executions/{tool_call(waiting)}/approve", headers=key)
    assert approved.status_code == 202, approved.text

    assert [r["text"] for r in wait_for_reply(client, key, untold, timeout=90)] == ["hello"]
    assert [r["text"] for r in wait_for_reply(client, key, told, timeout=90)] == [ABOUT]
    indices = Counter(c["index"] for c in chunks())
    assert sorted(indices) == list(range(len(indices))) and set(indices.values()) == {1}
    # what was streamed before the kill, once; the restarted reply streams no more (docs/agent-runtime.md)
    assert ABOUT.startswith("".join(c["text"] for c in sorted(chunks(), key=lambda c: c["index"])))

    until(lambda: all(assistant_records(runtime, s) for s in (untold, told)), "both replies on the outbound topic")
    assert [len(assistant_records(runtime, session)) for session in (untold, told)] == [1, 1]
    requested = [v for name, v in runtime.records(TOOL_REQUESTS) if name == "ToolRequested" and v["session_id"]]
    assert [str(v["request_id"]) for v in requested if str(v["session_id"]) == untold] == [tool_call(waiting)]
    once = _charge("echo hello", ToolCall("call-0", "echo", {"text": "hello"}), json.dumps({"text": "hello"}))
    once += _charge("Hello there")

    def used() -> int:
        items = client.get("/v1/budgets", headers=key).json()["items"]
        return int(items[0]["used"]) if items else 0

    until(lambda: used() >= once, f"{once} tokens charged")
    assert used() == once


def _charge(text: str, call: ToolCall | None = None, outcome: str = "") -> int:
    """The tokens the deterministic responder charges for answering `text` (calling `call` first, told `outcome`)."""
    responder, history = DeterministicResponder(), [Turn("user", text)]
    tokens = responder.estimate(history)
    if call is not None:
        history += [Turn("assistant", "", tool_calls=(call,)), Turn("tool", outcome, call_id=call.call_id)]
        tokens += responder.estimate(history)
    return tokens


def test_the_worked_examples_of_the_replay_doc_run_on_a_real_conversation(runtime, client, tmp_path):
    tenant, key = runtime.tenant()
    calculate = asked(client, key, "Calculate 2 + 2")
    session = calculate["session_id"]
    asked(client, key, "echo hello", session_id=session)
    wait_for_reply(client, key, session, count=2, timeout=60)
    env = {"POSTGRES_DSN": runtime.servers.postgres_dsn, "AGENTLOG_DB_SCHEMA": runtime.schema,
           "SCHEMA_REGISTRY_URL": runtime.servers.schema_registry_url, "TENANT": tenant,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip

    said = []
    for language, code in examples(REPO / "docs" / "replay.md", "Worked examples"):
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=child_env(env), capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{language} example failed:\n{code}\n{done.stderr}"
        said.append(done.stdout)

    counts, avro, followed = said[1], said[3], said[5]
    assert "agentlog.session.MessagePosted" in counts and "agentlog.budget.ReservationSettled" in counts
    assert session in counts  # the tokens charged for this conversation
    assert len(avro.splitlines()) == sum(1 for _ in (tmp_path / "events.jsonl").open())
    steps = [line.split(" ", 1)[1] for line in followed.splitlines()]
    assert steps[:2] == ["SessionStarted ", "MessagePosted Calculate 2 + 2"]
    assert {"ToolRequested calculator", "ToolCompleted calculator", "MessagePosted 2 + 2 = 4",
            "ToolRequested echo", "MessagePosted hello"} <= set(steps)  # fmt: skip
    assert any(step.startswith("ReservationSettled ") for step in steps)


def examples(doc: Path, section: str) -> list[tuple[str, str]]:
    """The (language, code) of each sh and python block of a section of a Markdown document, in order."""
    text = doc.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(sh|python)\n(.*?)```", text, re.S)


def test_a_fork_is_not_answered_for_the_history_it_copied_only_for_what_comes_after(runtime, client):
    _, key = runtime.tenant()
    first = asked(client, key, "Calculate 2 + 2")
    session = first["session_id"]
    assert [r["text"] for r in wait_for_reply(client, key, session, timeout=60)] == ["2 + 2 = 4"]

    forked = client.post(f"/v1/sessions/{session}/fork", json={"at_version": 2}, headers=key)  # the question only
    assert forked.status_code == 202, forked.text
    fork = forked.json()["session_id"]
    asked(client, key, "echo another way", session_id=fork)

    # a stream's messages are handled in order: once the new one is answered, the copy was passed over
    assert [r["text"] for r in wait_for_reply(client, key, fork, timeout=60)] == ["another way"]
    copied = [(e["version"], e["data"].get("text")) for e in events(client, key, fork)]
    assert copied[:2] == [(1, None), (2, "Calculate 2 + 2")]


def roots(spans: list[dict[str, Any]]) -> list[str]:
    """The names of the spans whose parent is not among `spans`."""
    ids = {s["span_id"] for s in spans}
    return [s["name"] for s in spans if s["parent_span_id"] not in ids]


def test_a_message_is_one_trace_across_the_processes_read_back_as_a_waterfall(runtime, client):
    """Each process's composition root sets tracing up: the message's trace, read back through GET /v1/traces/{id},
    spans the API, relay, views, conversation worker and tool executor, under the caller's span."""
    _, key = runtime.tenant(policy=allowing("calculator"))
    trace_id = uuid.uuid4().hex
    sent = {**key, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
    posted = client.post("/v1/session/message", json={"message": "Calculate 2 + 2"}, headers=sent)
    assert posted.status_code == 202, posted.text
    [reply] = wait_for_reply(client, key, posted.json()["session_id"], timeout=60)

    def waterfall() -> dict[str, Any] | None:
        found = client.get(f"/v1/traces/{trace_id}", headers=key)
        body = found.json() if found.status_code == 200 else None
        if not body or "tool.run calculator" not in {s["name"] for s in body["spans"]}:
            return None
        # spans arrive as they end, a parent maybe after its child: wait until they join up
        return body if len(roots(body["spans"])) == 1 else None

    spans = until(waterfall, "the whole trace in the span store", timeout=30)["spans"]
    assert reply["text"] == "2 + 2 = 4"
    services = {s["service"] for s in spans}
    assert {"agentlog-api", "agentlog-relay", "agentlog-projections", "agentlog-worker-conversation",
            "agentlog-worker-tools"} <= services  # fmt: skip
    assert roots(spans) == ["POST /v1/session/message"]  # the one root, a child of the caller's span
    assert {"eventstore.append", "relay.publish", "conversation.turn", "model.call", "policy.decide"} <= {
        s["name"] for s in spans
    }
