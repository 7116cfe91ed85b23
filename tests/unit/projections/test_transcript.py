"""The transcript view: a session's messages by version, reply chunks until the reply lands, live updates."""

from __future__ import annotations

import json
import uuid

from domain.catalog import EVENT_TYPES
from domain.events import RecordedEvent
from domain.session.events import (
    AssistantReplyChunk,
    Attachment,
    MessagePosted,
    Role,
    SessionClosed,
    SessionStarted,
)
from projections.views import VIEWS, Keys
from tests.unit.projections.model import T0, Folded, recorded

SESSION = uuid.uuid4()


def folded(*events, live: bool = True) -> Folded:
    return Folded(VIEWS["transcript"], Keys("p:", "transcript"), live=live).fold(events)


def posted(message: uuid.UUID, version: int, text: str, role: Role = Role.USER, **extra) -> RecordedEvent:
    event = MessagePosted(session_id=SESSION, message_id=message, role=role, text=text, **extra)
    return recorded(event, SESSION, version)


def started() -> RecordedEvent:
    return recorded(SessionStarted(session_id=SESSION, tenant_id="acme"), SESSION, 1)


def chunk(message: uuid.UUID, version: int, index: int, text: str) -> RecordedEvent:
    return recorded(
        AssistantReplyChunk(session_id=SESSION, message_id=message, index=index, text=text), SESSION, version
    )


def test_messages_are_kept_by_stream_version_as_json_with_their_attachments_and_metadata():
    question, answer = uuid.uuid4(), uuid.uuid4()
    picture = Attachment(name="a.png", media_type="image/png", url="https://x/a.png", size_bytes=3)
    view = folded(posted(answer, 3, "4", Role.ASSISTANT), posted(question, 2, "2+2?", attachments=(picture,)))

    messages = sorted(view("messages", SESSION).items(), key=lambda item: item[1])
    assert [(json.loads(text), version) for text, version in messages] == [
        (
            {
                "message_id": str(question),
                "role": "user",
                "text": "2+2?",
                "attachments": [
                    {"name": "a.png", "media_type": "image/png", "url": "https://x/a.png", "size_bytes": 3}
                ],
                "metadata": {},
                "at": T0.isoformat(),
                "version": 2,
            },
            2.0,
        ),
        (
            {
                "message_id": str(answer),
                "role": "assistant",
                "text": "4",
                "attachments": [],
                "metadata": {},
                "at": T0.isoformat(),
                "version": 3,
            },
            3.0,
        ),
    ]


def test_reply_chunks_are_kept_until_the_final_message_lands_whatever_the_order():
    reply = uuid.uuid4()
    chunks = [chunk(reply, 2, 0, "Hel"), chunk(reply, 3, 1, "lo")]

    assert folded(*chunks)("chunks", SESSION, reply) == {"0": "Hel", "1": "lo"}
    final = posted(reply, 4, "Hello", Role.ASSISTANT)
    assert folded(*chunks, final)("chunks", SESSION, reply) is None
    # the chunks travel on another topic than the final message: a chunk arriving last is kept
    late = folded(chunks[0], final, chunks[1])
    assert late("chunks", SESSION, reply) == {"1": "lo"}


def test_each_change_goes_once_to_the_live_stream_and_a_rebuild_sends_none():
    reply = uuid.uuid4()
    events = [started(), chunk(reply, 2, 0, "Hi"), posted(reply, 3, "Hi", Role.ASSISTANT)]
    events.append(recorded(SessionClosed(session_id=SESSION, reason="done"), SESSION, 4))

    live = folded(*events, *events).shared("live", SESSION)
    assert [(entry["kind"], json.loads(entry["data"])["version"]) for entry in live] == [
        ("chunk", 2),
        ("message", 3),
        ("closed", 4),
    ]
    assert json.loads(live[2]["data"]) == {"reason": "done", "version": 4}
    assert folded(*events, live=False).shared("live", SESSION) is None


def test_a_cancelled_reply_lands_as_a_message_and_the_cancel_goes_to_the_live_stream():
    from domain.session.events import ReplyCancelled

    question, reply = uuid.uuid4(), uuid.uuid4()
    cancelled = recorded(ReplyCancelled(session_id=SESSION, reason="enough"), SESSION, 4)
    partial = posted(reply, 5, "Hel", Role.ASSISTANT, metadata={"status": "cancelled"})
    view = folded(started(), posted(question, 2, "hi"), chunk(reply, 3, 0, "Hel"), cancelled, partial)

    live = view.shared("live", SESSION)
    assert [entry["kind"] for entry in live] == ["message", "chunk", "cancelled", "message"]
    assert json.loads(live[2]["data"]) == {"reason": "enough", "version": 4}
    texts = [json.loads(text) for text in view("messages", SESSION)]
    assert [(m["text"], m["metadata"]) for m in texts] == [("hi", {}), ("Hel", {"status": "cancelled"})]
    assert view("chunks", SESSION, reply) is None


def test_live_updates_go_out_in_session_order_whatever_order_the_two_topics_deliver_them_in():
    """The question travels inbound, the reply and its chunks outbound, the closing inbound: the live stream
    holds back whatever overtook an earlier version until that version comes, and sends each once."""
    question, reply = uuid.uuid4(), uuid.uuid4()
    ask, first, final = posted(question, 2, "2+2?"), chunk(reply, 3, 0, "4"), posted(reply, 4, "4", Role.ASSISTANT)
    closed = recorded(SessionClosed(session_id=SESSION, reason="done"), SESSION, 5)
    in_order = [("message", 2), ("chunk", 3), ("message", 4), ("closed", 5)]

    for arrival in ([first, final, started(), closed, ask], [started(), closed, final, ask, first, ask, final]):
        view = folded(*arrival)
        live = view.shared("live", SESSION)
        assert [(entry["kind"], json.loads(entry["data"])["version"]) for entry in live] == in_order
        assert view.shared("live-pending", SESSION) is None  # nothing left waiting

    waiting = folded(started(), first, closed)  # the question has not come: nothing after it goes out
    assert waiting.shared("live", SESSION) is None
    assert sorted(waiting.shared("live-pending", SESSION)) == ["3", "5"]


def test_a_session_live_before_in_order_updates_continues_from_its_next_version():
    """Sessions whose updates were sent by an earlier release (flags in live-sent, no start recorded in order)."""
    reply = uuid.uuid4()
    view = Folded(VIEWS["transcript"], Keys("p:", "transcript"))
    view.state[view.keys.shared("live-sent", SESSION)] = {2, 3}
    view.fold([chunk(reply, 4, 0, "Hi"), posted(reply, 5, "Hi", Role.ASSISTANT)])
    assert [entry["kind"] for entry in view.shared("live", SESSION)] == ["chunk", "message"]


def test_every_event_of_a_session_has_a_live_update_so_none_holds_the_others_back():
    session_events = {name for name in EVENT_TYPES if name.startswith("agentlog.session.")}
    assert set(VIEWS["transcript"].live) == session_events
