"""The read models: for each event, the Redis operations that fold it into a view.

Folds read the event's Avro record as written (`EventCodec.read`: ids as text, times as epoch
milliseconds), the values the views store, so projecting builds no domain objects. Each view maps
the event types it folds to a function; it records every other event of its topics as applied.
Keys are `<prefix><view>:v<n>:...`; `n` is the view's key version, so a rebuild can fill a fresh
copy while readers use the live one (`<prefix><view>:current` names the version readers use).
Live updates (a session's Redis Stream) are outside the versions: a rebuild does not resend them.
Operations never depend on arrival order across topics: hashes keep the fields of their newest
event (IFNEWER), sorted sets are keyed by version or time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.codec import Record
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
from domain.events import DomainEvent
from domain.model_profile.events import ModelProfileRemoved, ModelProfileSet
from domain.session.events import AssistantReplyChunk, MessagePosted, SessionClosed, SessionStarted
from domain.tool.events import ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from projections.apply import Op

LIVE_LENGTH = 1000  # entries kept per session's live stream (approximately)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _iso(millis: int) -> str:
    """Epoch milliseconds as ISO 8601 (UTC), exactly as the datetime the domain recorded."""
    return (_EPOCH + timedelta(milliseconds=millis)).isoformat()


_json = json.JSONEncoder(separators=(",", ":")).encode  # built once: json.dumps builds one per call


_last_message: list[object] = [None, ""]  # (record, its JSON): the transcript and its live update share it


def _message(r: Record) -> str:
    """A message as JSON (attachments and metadata are plain values already)."""
    if _last_message[0] is r:
        return str(_last_message[1])
    meta = r["meta"]
    text = _json(
        {
            "message_id": r["message_id"],
            "role": r["role"],
            "text": r["text"],
            "attachments": r["attachments"],
            "metadata": r["metadata"],
            "at": _iso(meta["occurred_at"]),
            "version": meta["stream_version"],
        }
    )
    _last_message[:] = [r, text]
    return text


# transcript: messages of a session by stream version; chunks kept apart until the final message lands


def _posted(r: Record, k: Keys) -> list[Op]:
    session = r["session_id"]
    return [
        ["ZADD", k("messages", session), r["meta"]["stream_version"], _message(r)],
        ["DEL", k("chunks", session, r["message_id"])],
    ]


def _chunk(r: Record, k: Keys) -> list[Op]:
    return [["HSET", k("chunks", r["session_id"], r["message_id"]), r["index"], r["text"]]]


# transcript_live: each transcript change, once, on the session's live Redis Stream (SSE / WebSocket
# clients tail it and resume by entry id); sent only by the live projection, never by a rebuild


def _live(r: Record, k: Keys, kind: str, data: str) -> list[Op]:
    session, version = r["session_id"], r["meta"]["stream_version"]
    xadd: list[str | int | float] = ["XADD", k.shared("live", session), "MAXLEN", "~", LIVE_LENGTH, "*"]
    return [["ONCE", k.shared("live-sent", session), version, *xadd, "kind", kind, "data", data]]


def _posted_live(r: Record, k: Keys) -> list[Op]:
    return _live(r, k, "message", _message(r))


def _chunk_live(r: Record, k: Keys) -> list[Op]:
    chunk = {"message_id": r["message_id"], "index": r["index"], "text": r["text"]}
    return _live(r, k, "chunk", _json({**chunk, "version": r["meta"]["stream_version"]}))


def _closed_live(r: Record, k: Keys) -> list[Op]:
    return _live(r, k, "closed", _json({"reason": r["reason"], "version": r["meta"]["stream_version"]}))


# sessions: each tenant's sessions by last activity, with status and message count


def _session(r: Record, k: Keys) -> tuple[str, int, list[Op]]:
    meta = r["meta"]
    session, at = k("session", r["session_id"]), meta["occurred_at"]
    return (
        session,
        at,
        [
            ["ZADD", k("by-tenant", meta["tenant_id"]), "GT", at, r["session_id"]],
            # the tenant never changes, and whichever event lands first is newer than nothing
            ["IFNEWER", session, meta["stream_version"], "", "tenant_id", meta["tenant_id"], "last_activity", at],
        ],
    )


def _session_started(r: Record, k: Keys) -> list[Op]:
    session, at, ops = _session(r, k)
    return [
        *ops,
        ["HSET", session, "persona_id", r["persona_id"] or "", "started_at", at],
        ["HSETNX", session, "status", "open"],
    ]


def _session_message(r: Record, k: Keys) -> list[Op]:
    session, _, ops = _session(r, k)
    return [*ops, ["HINCRBY", session, "messages", 1]]


def _session_closed(r: Record, k: Keys) -> list[Op]:
    session, at, ops = _session(r, k)
    return [*ops, ["HSET", session, "status", "closed", "closed_at", at]]


# tools: tool executions by request id (status and result) and per session


def _tool_requested(r: Record, k: Keys) -> list[Op]:
    meta, session = r["meta"], r["session_id"]
    execution = k("execution", r["request_id"])
    fields = ["tool_name", r["tool_name"], "arguments_json", r["arguments_json"], "session_id", session or ""]
    ops: list[Op] = [
        ["HSET", execution, *fields, "tenant_id", meta["tenant_id"]],
        ["IFNEWER", execution, meta["stream_version"], "", "status", "requested"],
    ]
    if session:
        ops.append(["ZADD", k("by-session", session), meta["occurred_at"], r["request_id"]])
    return ops


def _tool_outcome(outcome: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        status = "timed_out" if r.get("timed_out") else outcome
        fields = [f for name, v in r.items() if name not in ("meta", "request_id", "tool_name") for f in (name, str(v))]
        return [
            ["IFNEWER", k("execution", r["request_id"]), r["meta"]["stream_version"], "", "status", status, *fields]
        ]

    return fold


# budgets: usage per tenant, persona and day: used, limit, remaining, and refusals


def _usage(r: Record, k: Keys) -> tuple[str, Op]:
    day = r["day"].isoformat()
    index: Op = ["SADD", k("days", r["tenant_id"]), f"{r['persona_id']}:{day}"]
    return k("usage", r["tenant_id"], r["persona_id"], day), index


def _consumed(r: Record, k: Keys) -> list[Op]:
    usage, index = _usage(r, k)
    remaining = max(r["limit"] - r["used_after"], 0)
    fields = ["used", r["used_after"], "limit", r["limit"], "remaining", remaining]
    return [["IFNEWER", usage, r["meta"]["stream_version"], "", *fields], index]


def _exceeded(r: Record, k: Keys) -> list[Op]:
    # a refusal changes no balance, but says what the limit and the remainder were
    usage, index = _usage(r, k)
    return [
        ["HINCRBY", usage, "refused", 1],
        ["HSETNX", usage, "used", r["limit"] - r["remaining"]],
        ["IFNEWER", usage, r["meta"]["stream_version"], "", "limit", r["limit"], "remaining", r["remaining"]],
        index,
    ]


# delegation: tasks by id and, per tenant, by status (callback outcomes recorded on the task)


def _task_fields(r: Record, prefix: str = "") -> list[str]:
    """The event's fields as text, `prefix`ed unless already a callback's own."""
    return [
        f
        for name, v in r.items()
        if name not in ("meta", "task_id") and v is not None
        for f in (name if name.startswith("callback_") else prefix + name, str(v))
    ]


def _task_status(status: str) -> Fold:
    def fold(r: Record, k: Keys) -> list[Op]:
        meta, task = r["meta"], k("task", r["task_id"])
        index = k("status", meta["tenant_id"], "")
        return [
            ["HSET", task, "tenant_id", meta["tenant_id"]],
            ["IFNEWER", task, meta["stream_version"], index, "status", status, *_task_fields(r)],
        ]

    return fold


def _callback(r: Record, k: Keys) -> list[Op]:
    # a callback outcome's fields are kept apart (`callback_error`, not the task's own `error`); one
    # stream, one partition: callback outcomes arrive after the task's events
    return [["HSET", k("task", r["task_id"]), *_task_fields(r, "callback_")]]


# model profiles: the current profile per role and deployment mode, and the set of those that are set;
# a profile's events share one stream, hence one partition: they arrive in order


def _profile_set(r: Record, k: Keys) -> list[Op]:
    meta, name = r["meta"], f"{r['role']}:{r['deployment_mode']}"
    fields = ["tenant_id", meta["tenant_id"], "status", "set", "model", r["model"], "base_url", r["base_url"]]
    fields += ["api_path", r["api_path"], "temperature", str(r["temperature"])]  # Lua would print 17 digits
    profile = k("profile", r["role"], r["deployment_mode"])
    return [
        ["SADD", k("all"), name],
        ["IFNEWER", profile, meta["stream_version"], "", *fields, "extras", json.dumps(r["extras"])],
    ]


def _profile_removed(r: Record, k: Keys) -> list[Op]:
    profile = k("profile", r["role"], r["deployment_mode"])
    return [
        ["SREM", k("all"), f"{r['role']}:{r['deployment_mode']}"],
        ["IFNEWER", profile, r["meta"]["stream_version"], "", "status", "removed"],
    ]


Fold = Callable[[Record, Keys], list[Op]]
Folds = Mapping[str, Fold]  # event type name -> its fold


def _by_type(folds: Mapping[type[DomainEvent], Fold]) -> dict[str, Fold]:
    return {event.type_name(): fold for event, fold in folds.items()}


@dataclass(frozen=True)
class View:
    """A read model: its name, the topics it reads (before any prefix), its folds, and the live
    updates it publishes (only while running live, not in a rebuild)."""

    name: str
    topics: tuple[str, ...]
    folds: Folds
    live: Folds = field(default_factory=dict)


VIEWS = {
    view.name: view
    for view in (
        View(
            "transcript",
            (INBOUND, OUTBOUND),
            _by_type({MessagePosted: _posted, AssistantReplyChunk: _chunk}),
            _by_type({MessagePosted: _posted_live, AssistantReplyChunk: _chunk_live, SessionClosed: _closed_live}),
        ),
        View(
            "sessions",
            (INBOUND, OUTBOUND),
            _by_type(
                {SessionStarted: _session_started, MessagePosted: _session_message, SessionClosed: _session_closed}
            ),
        ),
        View(
            "tools",
            (TOOL_REQUESTS, TOOL_RESULTS),
            _by_type(
                {
                    ToolRequested: _tool_requested,
                    ToolDenied: _tool_outcome("denied"),
                    ToolCompleted: _tool_outcome("completed"),
                    ToolFailed: _tool_outcome("failed"),
                }
            ),
        ),
        View("budgets", (BUDGET_EVENTS,), _by_type({TokensConsumed: _consumed, BudgetExceeded: _exceeded})),
        View(
            "delegation",
            (DELEGATION_TASKS,),
            _by_type(
                {
                    delegation.DelegationTaskCreated: _task_status("queued"),
                    delegation.DelegationTaskStarted: _task_status("running"),
                    delegation.DelegationTaskCompleted: _task_status("completed"),
                    delegation.DelegationTaskFailed: _task_status("failed"),
                    delegation.DelegationCallbackDelivered: _callback,
                    delegation.DelegationCallbackFailed: _callback,
                }
            ),
        ),
        View(
            "model_profiles",
            (MODEL_PROFILES,),
            _by_type({ModelProfileSet: _profile_set, ModelProfileRemoved: _profile_removed}),
        ),
    )
}
