"""transcript: a session's messages by stream version; reply chunks kept apart until the final message lands.

A cancelled reply lands as a final message too (metadata status "cancelled", the text said so far);
the cancellation itself is a live update (`cancelled`).

Its live updates (`transcript_live`) put each transcript change, once and in the session's version
order, on the session's live Redis Stream (SSE / WebSocket clients tail it and resume by entry id):
a session's events travel on two topics, so a reply can reach the projection before the question it
answers, and the closing before a reply's last chunk; INORDER holds an update back until every
earlier version has come (a session's start, which shows nothing, counts too). Only the live
projection sends them, never a rebuild.
"""

from __future__ import annotations

from contracts.codec import Record
from contracts.routing import INBOUND, OUTBOUND
from domain.session.events import AssistantReplyChunk, MessagePosted, ReplyCancelled, SessionClosed, SessionStarted
from projections.apply import Op
from projections.views.base import Keys, View, by_type, compact_json, iso

LIVE_LENGTH = 1000  # entries kept per session's live stream (approximately)

_last_message: list[object] = [None, ""]  # (record, its JSON): the transcript and its live update share it


def _message(r: Record) -> str:
    """A message as JSON (attachments and metadata are plain values already)."""
    if _last_message[0] is r:
        return str(_last_message[1])
    meta = r["meta"]
    text = compact_json(
        {
            "message_id": r["message_id"],
            "role": r["role"],
            "text": r["text"],
            "attachments": r["attachments"],
            "metadata": r["metadata"],
            "at": iso(meta["occurred_at"]),
            "version": meta["stream_version"],
        }
    )
    _last_message[:] = [r, text]
    return text


def _posted(r: Record, k: Keys) -> list[Op]:
    session = r["session_id"]
    return [
        ["ZADD", k("messages", session), r["meta"]["stream_version"], _message(r)],
        ["DEL", k("chunks", session, r["message_id"])],
    ]


def _chunk(r: Record, k: Keys) -> list[Op]:
    return [["HSET", k("chunks", r["session_id"], r["message_id"]), r["index"], r["text"]]]


def _in_order(r: Record, k: Keys, *command: str | int | float) -> list[Op]:
    session, version = r["session_id"], r["meta"]["stream_version"]
    order = [k.shared("live-order", session), version, k.shared("live-pending", session)]
    return [["INORDER", *order, k.shared("live-sent", session), *command]]  # live-sent: earlier releases' flags


def _live(r: Record, k: Keys, kind: str, data: str) -> list[Op]:
    xadd = ("XADD", k.shared("live", r["session_id"]), "MAXLEN", "~", LIVE_LENGTH, "*")
    return _in_order(r, k, *xadd, "kind", kind, "data", data)


def _started_live(r: Record, k: Keys) -> list[Op]:
    return _in_order(r, k)  # nothing to show, but later versions wait for it


def _posted_live(r: Record, k: Keys) -> list[Op]:
    return _live(r, k, "message", _message(r))


def _chunk_live(r: Record, k: Keys) -> list[Op]:
    chunk = {"message_id": r["message_id"], "index": r["index"], "text": r["text"]}
    return _live(r, k, "chunk", compact_json({**chunk, "version": r["meta"]["stream_version"]}))


def _closed_live(r: Record, k: Keys) -> list[Op]:
    data = compact_json({"reason": r["reason"], "version": r["meta"]["stream_version"]})
    return _live(r, k, "closed", data)


def _cancelled_live(r: Record, k: Keys) -> list[Op]:
    data = compact_json({"reason": r["reason"], "version": r["meta"]["stream_version"]})
    return _live(r, k, "cancelled", data)


VIEW = View(
    "transcript",
    (INBOUND, OUTBOUND),
    by_type({MessagePosted: _posted, AssistantReplyChunk: _chunk}),
    by_type(
        {
            SessionStarted: _started_live,
            MessagePosted: _posted_live,
            AssistantReplyChunk: _chunk_live,
            SessionClosed: _closed_live,
            ReplyCancelled: _cancelled_live,
        }
    ),
)
