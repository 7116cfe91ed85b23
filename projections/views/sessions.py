"""sessions: each tenant's sessions by last activity, with status and message count."""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import INBOUND, OUTBOUND
from domain.session.events import MessagePosted, SessionClosed, SessionStarted
from projections.apply import Op
from projections.views.base import Keys, View, by_type


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


VIEW = View(
    "sessions",
    (INBOUND, OUTBOUND),
    by_type({SessionStarted: _session_started, MessagePosted: _session_message, SessionClosed: _session_closed}),
)
