"""The transcript view: a session's messages by version, reply chunks until the reply lands, live updates."""

from __future__ import annotations

import json
import uuid

from domain.session.events import AssistantReplyChunk, Attachment, MessagePosted, Role, SessionClosed
from projections.views import VIEWS, Keys
from tests.unit.projections.model import T0, Folded, recorded

SESSION = uuid.uuid4()


def folded(*events, live: bool = True) -> Folded:
    return Folded(VIEWS["transcript"], Keys("p:", "transcript"), live=live).fold(events)


def posted(message: uuid.UUID, version: int, text: str, role: Role = Role.USER, **extra) -> object:
    event = MessagePosted(session_id=SESSION, message_id=message, role=role, text=text, **extra)
    return recorded(event, SESSION, version)


def chunk(message: uuid.UUID, version: int, index: int, text: str) -> object:
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
    events = [chunk(reply, 2, 0, "Hi"), posted(reply, 3, "Hi", Role.ASSISTANT)]
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
    view = folded(posted(question, 2, "hi"), chunk(reply, 3, 0, "Hel"), cancelled, partial)

    live = view.shared("live", SESSION)
    assert [entry["kind"] for entry in live] == ["message", "chunk", "cancelled", "message"]
    assert json.loads(live[2]["data"]) == {"reason": "enough", "version": 4}
    texts = [json.loads(text) for text in view("messages", SESSION)]
    assert [(m["text"], m["metadata"]) for m in texts] == [("hi", {}), ("Hel", {"status": "cancelled"})]
    assert view("chunks", SESSION, reply) is None
