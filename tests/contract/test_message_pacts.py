"""Consumer side of the message pacts (Pact V4, asynchronous messages) with the relay as provider.

Each consumer states the events it consumes, as the relay publishes them (the Avro record in JSON,
see contracts/messages.py), and its own code runs on each message's content: the projections'
folds, the conversation worker's choice of what to answer, the tool executor's reading of a request
or an approval, the delegation worker's callback. The pacts go to contracts/pacts/, where
`test_message_pact_verification.py` and `agentlog contracts can-i-deploy` verify them against
what the real relay emits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from contracts.messages import decode_content, parse_description, read_content
from contracts.routing import DELEGATION_TASKS, INBOUND, TOOL_REQUESTS
from domain.delegation.events import DelegationTaskCreated
from domain.events import EventMetadata, RecordedEvent
from domain.tool.events import ToolApproved, ToolRequested
from projections.views import VIEWS, Keys
from tests.support.message_pacts import PACTS, examples, expect, new_pact
from workers.conversation.worker import is_user_message
from workers.delegation.message import ENDINGS, callback_message
from workers.tools.executor import _arguments, _context

pytestmark = pytest.mark.contract

EXAMPLES = examples()
# the field naming what each aggregate's events are about: a view's keys must carry it
SUBJECT = {"session": "session_id", "tool": "request_id", "budget": "tenant_id", "delegation": "task_id",
           "model_profile": "role"}  # fmt: skip
# the field naming what each aggregate's events are about: a view's keys must carry it
SUBJECT = {"session": "session_id", "tool": "request_id", "budget": "tenant_id", "delegation": "task_id",
           "model_profile": "role"}  # fmt: skip


def verify(consumer: str, wanted: list[str], handler: Callable[[str, str, dict[str, Any]], None]) -> None:
    """The consumer's pact with the relay for the `wanted` messages, written to contracts/pacts/ once
    `handler` (the consumer's code) took every message's content."""
    pact = new_pact(consumer)
    for name in wanted:
        event_type, topic = parse_description(name)
        expect(pact, event_type, topic, EXAMPLES[name])

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        handler(str(metadata["event_type"]), str(metadata["topic"]), json.loads(body))

    pact.verify(handle, "Async")
    pact.write_file(PACTS, overwrite=True)


def _projected(event_type: str, topic: str, content: dict[str, Any]) -> None:
    """Every view reading `topic` that folds `event_type` turns it into Redis operations on its keys."""
    record = read_content(event_type, content)
    folds = [
        (view.name, fold)
        for view in VIEWS.values()
        if topic in view.topics
        for fold in (view.folds.get(event_type), view.live.get(event_type))
        if fold is not None
    ]
    assert folds, f"no view folds {event_type}"
    subject = str(content[SUBJECT[event_type.split(".")[1]]])
    for name, fold in folds:
        ops = fold(record, Keys("pact:", name))
        assert ops and all(isinstance(op[0], str) and op[0].isupper() for op in ops)
        assert any(subject in str(part) for op in ops for part in op), f"{name} keeps nothing of {subject}"


def test_the_projections_fold_every_event_they_read():
    folded = {t for view in VIEWS.values() for t in (*view.folds, *view.live)}
    wanted = [name for name in EXAMPLES if parse_description(name)[0] in folded]
    verify("agentlog-projections", wanted, _projected)
    assert len(wanted) == 25  # 24 event types, MessagePosted on both conversation topics


def test_the_conversation_worker_answers_a_users_message():
    def answered(event_type: str, _topic: str, content: dict[str, Any]) -> None:
        recorded = decode_content(event_type, content)
        assert is_user_message(recorded)
        assert recorded.meta.occurred_at.tzinfo is not None  # its age is judged against now
        assert recorded.meta.stream_id == str(recorded.event.session_id)  # type: ignore[attr-defined]

    verify("agentlog-conversation-worker", [f"agentlog.session.MessagePosted on {INBOUND}"], answered)


def test_the_tool_executor_reads_a_request_and_an_approval():
    def executed(event_type: str, _topic: str, content: dict[str, Any]) -> None:
        recorded = decode_content(event_type, content)
        event = recorded.event
        assert isinstance(event, ToolRequested | ToolApproved)
        assert _context(recorded).causation_id == recorded.meta.event_id
        if isinstance(event, ToolRequested):
            assert dict(_arguments(event.arguments_json))

    names = [f"agentlog.tool.{kind} on {TOOL_REQUESTS}" for kind in ("ToolRequested", "ToolApproved")]
    verify("agentlog-tool-executor", names, executed)


def test_the_delegation_worker_calls_back_when_a_task_ends():
    def called_back(event_type: str, _topic: str, content: dict[str, Any]) -> None:
        ended = decode_content(event_type, content)
        assert isinstance(ended.event, ENDINGS)
        task = ended.event.task_id
        created = DelegationTaskCreated(task_id=task, title="t", instructions="i", callback_url="https://x.example")
        meta = EventMetadata(**{**vars(ended.meta), "event_id": uuid.uuid4(), "stream_version": 1})
        message = callback_message([RecordedEvent(meta=meta, event=created)], ended)
        body = json.loads(message.body)
        assert body["data"]["task_id"] == str(task)
        assert body["data"]["status"] in ("completed", "failed")

    names = [
        f"agentlog.delegation.{kind} on {DELEGATION_TASKS}"
        for kind in ("DelegationTaskCompleted", "DelegationTaskFailed")
    ]
    verify("agentlog-delegation-worker", names, called_back)
