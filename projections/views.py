"""The read models: for each event, the Redis operations that fold it into a view.

Keys are `<prefix><view>:v<n>:...`; `n` is the view's key version, so a rebuild can fill a fresh
copy while readers use the live one (`<prefix><view>:current` names the version readers use).
Live updates (a session's Redis Stream) are outside the versions: a rebuild does not resend them.
Operations never depend on arrival order across topics: hashes keep the fields of their newest
event (IFNEWER), sorted sets are keyed by version or time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.convert import to_plain
from contracts.routing import (
    BUDGET_EVENTS,
    DELEGATION_TASKS,
    INBOUND,
    MODEL_PROFILES,
    OUTBOUND,
    TOOL_REQUESTS,
    TOOL_RESULTS,
)
from domain.budget.events import BudgetExceeded, TokensConsumed
from domain.delegation import events as delegation
from domain.events import RecordedEvent
from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet
from domain.session.events import AssistantReplyChunk, MessagePosted, SessionClosed, SessionStarted
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from projections.apply import Op

LIVE_LENGTH = 1000  # entries kept per session's live stream (approximately)


@dataclass(frozen=True)
class Keys:
    """Key names of one view at one key version."""

    prefix: str
    view: str
    version: int = 1
    _base: str = field(init=False, repr=False, compare=False)
    _versioned: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # every event names several keys: build the fixed parts once
        object.__setattr__(self, "_base", f"{self.prefix}{self.view}:")
        object.__setattr__(self, "_versioned", f"{self.prefix}{self.view}:v{self.version}:")

    def __call__(self, *parts: object) -> str:
        return self._versioned + ":".join(map(str, parts))

    def shared(self, *parts: object) -> str:
        """A key of the view outside its versions (the version pointer, live streams, runner status)."""
        return self._base + ":".join(map(str, parts))

    def at(self, version: int) -> Keys:
        return Keys(self.prefix, self.view, version)


def _millis(r: RecordedEvent) -> int:
    return int(r.meta.occurred_at.timestamp() * 1000)


_last_message: list[object] = [None, ""]  # (event, its JSON): the transcript and its live update share it


def _message(r: RecordedEvent, e: MessagePosted) -> str:
    """A message as JSON, built from plain values so json's C encoder does all the work."""
    if _last_message[0] is r:
        return str(_last_message[1])
    text = json.dumps(
        {
            "message_id": str(e.message_id),
            "role": e.role.value,
            "text": e.text,
            "attachments": [to_plain(a) for a in e.attachments],
            "metadata": dict(e.metadata),
            "at": r.meta.occurred_at.isoformat(),
            "version": r.meta.stream_version,
        },
        separators=(",", ":"),
    )
    _last_message[:] = [r, text]
    return text


def transcript(r: RecordedEvent, k: Keys) -> list[Op]:
    """Messages of a session by stream version; chunks kept apart until the final message lands."""
    e = r.event
    if isinstance(e, MessagePosted):
        return [
            ["ZADD", k("messages", e.session_id), r.meta.stream_version, _message(r, e)],
            ["DEL", k("chunks", e.session_id, e.message_id)],
        ]
    if isinstance(e, AssistantReplyChunk):
        return [["HSET", k("chunks", e.session_id, e.message_id), e.index, e.text]]
    return []


def transcript_live(r: RecordedEvent, k: Keys) -> list[Op]:
    """Each transcript change, once, on the session's live Redis Stream (SSE / WebSocket clients
    tail it and resume by entry id); sent only by the live projection, never by a rebuild."""
    e, version = r.event, r.meta.stream_version
    if isinstance(e, MessagePosted):
        kind, data = "message", _message(r, e)
    elif isinstance(e, AssistantReplyChunk):
        chunk = {"message_id": str(e.message_id), "index": e.index, "text": e.text, "version": version}
        kind, data = "chunk", json.dumps(chunk, separators=(",", ":"))
    elif isinstance(e, SessionClosed):
        kind, data = "closed", json.dumps({"reason": e.reason, "version": version}, separators=(",", ":"))
    else:
        return []
    stream = k.shared("live", e.session_id)
    xadd: list[str | int | float] = ["XADD", stream, "MAXLEN", "~", LIVE_LENGTH, "*", "kind", kind, "data", data]
    return [["ONCE", k.shared("live-sent", e.session_id), version, *xadd]]


def sessions(r: RecordedEvent, k: Keys) -> list[Op]:
    """Each tenant's sessions by last activity, with status and message count."""
    e, at = r.event, _millis(r)
    if not isinstance(e, SessionStarted | MessagePosted | SessionClosed):
        return []
    session = k("session", e.session_id)
    ops: list[Op] = [
        ["ZADD", k("by-tenant", r.meta.tenant_id), "GT", at, str(e.session_id)],
        ["HSET", session, "tenant_id", r.meta.tenant_id],
        ["IFNEWER", session, r.meta.stream_version, "", "last_activity", at],
    ]
    if isinstance(e, SessionStarted):
        ops.append(["HSET", session, "persona_id", e.persona_id or "", "started_at", at])
        ops.append(["HSETNX", session, "status", "open"])
    elif isinstance(e, MessagePosted):
        ops.append(["HINCRBY", session, "messages", 1])
    else:
        ops.append(["HSET", session, "status", "closed", "closed_at", at])
    return ops


def tools(r: RecordedEvent, k: Keys) -> list[Op]:
    """Tool executions by request id (status and result) and per session."""
    e = r.event
    execution = k("execution", getattr(e, "request_id", ""))
    if isinstance(e, ToolRequested):
        ops: list[Op] = [
            [
                "HSET",
                execution,
                "tool_name",
                e.tool_name,
                "arguments_json",
                e.arguments_json,
                "session_id",
                str(e.session_id or ""),
                "tenant_id",
                r.meta.tenant_id,
            ],
            ["IFNEWER", execution, r.meta.stream_version, "", "status", "requested"],
        ]
        if e.session_id:
            ops.append(["ZADD", k("by-session", e.session_id), _millis(r), str(e.request_id)])
        return ops
    outcome = {ToolDenied: "denied", ToolCompleted: "completed", ToolFailed: "failed"}.get(type(e))
    if outcome is None:
        return []
    if isinstance(e, ToolFailed) and e.timed_out:
        outcome = "timed_out"
    details = {k_: v for k_, v in to_plain(e).items() if k_ not in ("request_id", "tool_name")}
    fields = [field for name, value in details.items() for field in (name, str(value))]
    return [["IFNEWER", execution, r.meta.stream_version, "", "status", outcome, *fields]]


def budgets(r: RecordedEvent, k: Keys) -> list[Op]:
    """Usage per tenant, persona and day: used, limit, remaining, and refusals."""
    e = r.event
    if not isinstance(e, TokensConsumed | BudgetExceeded):
        return []
    usage = k("usage", e.tenant_id, e.persona_id, e.day.isoformat())
    index: Op = ["SADD", k("days", e.tenant_id), f"{e.persona_id}:{e.day.isoformat()}"]
    if isinstance(e, TokensConsumed):
        remaining = max(e.limit - e.used_after, 0)
        fields: list[str | int | float] = ["used", e.used_after, "limit", e.limit, "remaining", remaining]
        return [["IFNEWER", usage, r.meta.stream_version, "", *fields], index]
    # a refusal changes no balance, but says what the limit and the remainder were
    fields = ["limit", e.limit, "remaining", e.remaining]
    return [
        ["HINCRBY", usage, "refused", 1],
        ["HSETNX", usage, "used", e.limit - e.remaining],
        ["IFNEWER", usage, r.meta.stream_version, "", *fields],
        index,
    ]


_TASK_STATUS = {
    delegation.DelegationTaskCreated: "queued",
    delegation.DelegationTaskStarted: "running",
    delegation.DelegationTaskCompleted: "completed",
    delegation.DelegationTaskFailed: "failed",
}


def delegation_tasks(r: RecordedEvent, k: Keys) -> list[Op]:
    """Delegation tasks by id and, per tenant, by status (callback outcomes recorded on the task)."""
    e = r.event
    if not isinstance(e, delegation.DelegationEvent):
        return []
    task = k("task", e.task_id)
    status = _TASK_STATUS.get(type(e))
    # a callback outcome's fields are kept apart (`callback_error`, not the task's own `error`)
    prefix = "" if status else "callback_"
    details = {
        n if n.startswith("callback_") else prefix + n: str(v)
        for n, v in to_plain(e).items()
        if n != "task_id" and v is not None
    }
    fields = [field for item in details.items() for field in item]
    if status is None:  # one stream, one partition: callback outcomes arrive after the task's events
        return [["HSET", task, *fields]]
    return [
        ["HSET", task, "tenant_id", r.meta.tenant_id],
        ["IFNEWER", task, r.meta.stream_version, k("status", r.meta.tenant_id, ""), "status", status, *fields],
    ]


def model_profiles(r: RecordedEvent, k: Keys) -> list[Op]:
    """The current profile per role and deployment mode, and the set of those that are set.

    A profile's events share one stream, hence one partition: they arrive in order.
    """
    e = r.event
    if isinstance(e, ModelProfileSet):
        profile = k("profile", e.role, e.deployment_mode)
        return [
            ["SADD", k("all"), f"{e.role}:{e.deployment_mode}"],
            [
                "IFNEWER",
                profile,
                r.meta.stream_version,
                "",
                "tenant_id",
                r.meta.tenant_id,
                "status",
                "set",
                "model",
                e.model,
                "base_url",
                e.base_url,
                "api_path",
                e.api_path,
                "temperature",
                str(e.temperature),  # as text: Lua would print the double with 17 digits
                "extras",
                json.dumps(dict(e.extras)),
            ],
        ]
    if isinstance(e, ModelProfileRemoved):
        profile = k("profile", e.role, e.deployment_mode)
        return [
            ["SREM", k("all"), f"{e.role}:{e.deployment_mode}"],
            ["IFNEWER", profile, r.meta.stream_version, "", "status", "removed"],
        ]
    return []


Fold = Callable[[RecordedEvent, Keys], list[Op]]


def _nothing(_r: RecordedEvent, _k: Keys) -> list[Op]:
    return []


@dataclass(frozen=True)
class View:
    """A read model: its name, the topics it reads (before any prefix), its fold, and the live
    updates it publishes (only while running live, not in a rebuild)."""

    name: str
    topics: tuple[str, ...]
    fold: Fold
    live: Fold = _nothing


VIEWS = {
    view.name: view
    for view in (
        View("transcript", (INBOUND, OUTBOUND), transcript, transcript_live),
        View("sessions", (INBOUND, OUTBOUND), sessions),
        View("tools", (TOOL_REQUESTS, TOOL_RESULTS), tools),
        View("budgets", (BUDGET_EVENTS,), budgets),
        View("delegation", (DELEGATION_TASKS,), delegation_tasks),
        View("model_profiles", (MODEL_PROFILES,), model_profiles),
    )
}
