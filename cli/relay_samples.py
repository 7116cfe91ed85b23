"""One event of every type the relay publishes, as the domain services record them, for the message pacts.

Each entry is a stream with its events in order (the first event of a stream at version 1), written
through the real event store by `relay_messages.produce`. Values follow the domain's rules (a
request before its decision, a task created before it ends) and fill every optional field, so each
consumer's expectation of a field's type is checked against a value, never against a null.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.budget import aggregate as budget
from domain.budget import events as b
from domain.delegation import aggregate as delegation
from domain.delegation import events as d
from domain.events import DomainEvent
from domain.model_profile import aggregate as profile
from domain.model_profile import events as m
from domain.session import aggregate as session
from domain.session import events as s
from domain.tool import aggregate as tool
from domain.tool import events as t

NewId = Callable[[], uuid.UUID]


@dataclass(frozen=True)
class Stream:
    """Events to append to one new stream."""

    stream_id: str
    stream_type: str
    events: Sequence[DomainEvent]


def _session(tenant: str, new_id: NewId) -> list[Stream]:
    sid, reply, cancelled = new_id(), new_id(), new_id()
    forked_from = s.ForkOrigin(session_id=new_id(), version=1)  # a fork of a session's start: nothing copied
    first = [
        s.SessionStarted(session_id=sid, tenant_id=tenant, persona_id="helper", forked_from=forked_from),
        s.MessagePosted(session_id=sid, message_id=new_id(), role=s.Role.USER, text="What is 2 + 2?"),
        s.AssistantReplyChunk(session_id=sid, message_id=reply, index=0, text="2 + 2"),
        s.MessagePosted(session_id=sid, message_id=reply, role=s.Role.ASSISTANT, text="2 + 2 = 4"),
        s.SessionClosed(session_id=sid, reason="done"),
    ]
    second = [
        s.SessionStarted(session_id=cancelled, tenant_id=tenant, persona_id="helper"),
        s.ReplyCancelled(session_id=cancelled, reason="stopped by the user"),
    ]
    return [
        Stream(session.stream_id(sid), session.STREAM_TYPE, first),
        Stream(session.stream_id(cancelled), session.STREAM_TYPE, second),
    ]


def _tools(at: datetime, new_id: NewId) -> list[Stream]:
    def request(rid: uuid.UUID) -> t.ToolRequested:
        arguments = '{"expression": "2 + 2"}'
        return t.ToolRequested(request_id=rid, tool_name="calculator", arguments_json=arguments,
                               session_id=new_id(), timeout_ms=5000)  # fmt: skip

    ran, asked, denied, failed = (new_id() for _ in range(4))
    policy: dict[str, Any] = {"tool_name": "calculator", "policy": "agentlog.tools"}
    streams: dict[uuid.UUID, list[DomainEvent]] = {
        ran: [t.ToolAllowed(request_id=ran, reason="allowed", **policy),
              t.ToolCompleted(request_id=ran, tool_name="calculator", result_json='{"result": "4"}', duration_ms=3)],
        asked: [t.ToolApprovalRequested(request_id=asked, reason="ask a person", expires_at=at + timedelta(hours=1),
                                        **policy),
                t.ToolApproved(request_id=asked, tool_name="calculator", approved_by="ops@example.com", note="ok")],
        denied: [t.ToolDenied(request_id=denied, reason="not today", denied_by="ops@example.com", **policy)],
        failed: [t.ToolAllowed(request_id=failed, reason="allowed", **policy),
                 t.ToolFailed(request_id=failed, tool_name="calculator", error="took too long", timed_out=True,
                              duration_ms=5000)],
    }  # fmt: skip
    return [Stream(tool.stream_id(rid), tool.STREAM_TYPE, [request(rid), *events]) for rid, events in streams.items()]


def _budget(tenant: str, at: datetime, new_id: NewId) -> list[Stream]:
    day, held = at.date(), new_id()
    usage: dict[str, Any] = {"tenant_id": tenant, "persona_id": "helper", "day": day, "limit": 1000}
    events = [
        b.TokensConsumed(tokens=100, used_after=100, session_id=new_id(), cost_usd=Decimal("0.0012"), **usage),
        b.TokensReserved(reservation_id=held, tokens=300, used_after=400, session_id=new_id(), **usage),
        b.ReservationSettled(reservation_id=held, reserved=300, actual=250, charged=250, used_after=350,
                             session_id=new_id(), **usage),
        b.BudgetExceeded(requested=900, remaining=650, **usage),
    ]  # fmt: skip
    limits = [b.BudgetLimitSet(tenant_id=tenant, persona_id="helper", daily_tokens=1000)]
    return [
        Stream(budget.limits_stream_id(tenant), budget.LIMITS_STREAM_TYPE, limits),
        Stream(budget.stream_id(tenant, "helper", day), budget.STREAM_TYPE, events),
    ]


def _delegation(new_id: NewId) -> list[Stream]:
    done, broke = new_id(), new_id()
    url = "https://hooks.example.com/agentlog"

    def created(task: uuid.UUID) -> d.DelegationTaskCreated:
        return d.DelegationTaskCreated(task_id=task, title="Summarise", instructions="Summarise the thread",
                                       callback_url=url, parent_session_id=new_id())  # fmt: skip

    ok = [
        created(done),
        d.DelegationTaskStarted(task_id=done, worker="researcher"),
        d.DelegationTaskCompleted(task_id=done, result="A summary."),
        d.DelegationCallbackDelivered(task_id=done, callback_url=url, status_code=204),
    ]
    failed = [
        created(broke),
        d.DelegationTaskFailed(task_id=broke, error="the source was gone"),
        d.DelegationCallbackFailed(task_id=broke, callback_url=url, error="503 from the receiver", attempt=5),
    ]
    return [Stream(delegation.stream_id(task), delegation.STREAM_TYPE, e) for task, e in ((done, ok), (broke, failed))]


def _profiles(tenant: str) -> list[Stream]:
    role = f"pact-{tenant}"
    events = [
        m.ModelProfileSet(role=role, deployment_mode="hosted", model="gpt-test", base_url="https://llm.example.com",
                          api_path="/v1/chat/completions", temperature=0.2, extras={"seed": "7"}),
        m.ModelProfileRemoved(role=role, deployment_mode="hosted"),
    ]  # fmt: skip
    return [Stream(profile.stream_id(role, "hosted"), profile.STREAM_TYPE, events)]


def samples(tenant: str, at: datetime | None = None, new_id: NewId = uuid.uuid4) -> list[Stream]:
    """Streams holding at least one event of every routed type (and an assistant's message), for `tenant`;
    ids from `new_id` (fixed ones give the same events every time)."""
    at = at or datetime.now(UTC)
    return [
        *_session(tenant, new_id), *_tools(at, new_id), *_budget(tenant, at, new_id), *_delegation(new_id),
        *_profiles(tenant),
    ]  # fmt: skip
