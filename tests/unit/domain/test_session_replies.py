"""Streamed replies one chunk at a time, and cancelling the replies in progress."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import InvalidCommand, StateConflict
from domain.events import DomainEvent
from domain.session import aggregate as session
from domain.session.commands import AppendReplyChunk, CancelReply, PostAssistantReply
from domain.session.errors import ReplyCancelledError, SessionClosedError
from domain.session.events import (
    AssistantReplyChunk,
    MessagePosted,
    ReplyCancelled,
    Role,
    SessionClosed,
    SessionStarted,
)

TENANT = "acme"
SID = uuid.uuid4()
REPLY = uuid.uuid4()


def history(*extra: DomainEvent) -> Any:
    question = MessagePosted(session_id=SID, message_id=uuid.uuid4(), role=Role.USER, text="hi")
    return session.DECIDER.fold([SessionStarted(session_id=SID, tenant_id=TENANT), question, *extra])


def chunk(index: int = 0, text: str = "Hel", reply_to_version: int = 2) -> AppendReplyChunk:
    return AppendReplyChunk(
        session_id=SID, tenant_id=TENANT, message_id=REPLY, index=index, text=text, reply_to_version=reply_to_version
    )


def test_a_chunk_of_a_reply_in_progress_is_recorded_alone():
    assert session.append_reply_chunk(history(), chunk(1, " ")) == [
        AssistantReplyChunk(session_id=SID, message_id=REPLY, index=1, text=" ")
    ]


def test_after_a_cancel_no_chunk_of_a_reply_to_an_earlier_message_is_recorded():
    state = history(ReplyCancelled(session_id=SID, reason=None))
    assert state is not None and state.cancelled_at == 3
    with pytest.raises(ReplyCancelledError) as refused:
        session.append_reply_chunk(state, chunk())
    assert isinstance(refused.value, StateConflict)
    # a message posted after the cancel is answered as usual
    assert session.append_reply_chunk(state, chunk(reply_to_version=4))


def test_a_chunk_must_have_text_and_an_index_from_zero():
    with pytest.raises(InvalidCommand, match="chunks"):
        session.append_reply_chunk(history(), chunk(text=""))
    with pytest.raises(InvalidCommand, match="index"):
        session.append_reply_chunk(history(), chunk(index=-1))


def test_cancelling_is_recorded_in_an_open_session_and_refused_in_a_closed_one():
    command = CancelReply(session_id=SID, tenant_id=TENANT, reason="stop")
    assert session.cancel_reply(history(), command) == [ReplyCancelled(session_id=SID, reason="stop")]
    with pytest.raises(SessionClosedError):
        session.cancel_reply(history(SessionClosed(session_id=SID)), command)
    with pytest.raises(SessionClosedError):
        session.append_reply_chunk(history(SessionClosed(session_id=SID)), chunk())


def test_another_tenant_cannot_cancel():
    from domain.errors import NotFound

    with pytest.raises(NotFound):
        session.cancel_reply(history(), CancelReply(session_id=SID, tenant_id="other"))


def final(**fields: Any) -> PostAssistantReply:
    return PostAssistantReply(session_id=SID, tenant_id=TENANT, message_id=REPLY, text="Hello", **fields)


def test_a_final_reply_numbers_its_chunks_after_those_recorded_before_it():
    events = session.post_assistant_reply(history(), final(chunks=("lo",), first_index=3))
    assert events[0] == AssistantReplyChunk(session_id=SID, message_id=REPLY, index=3, text="lo")
    assert isinstance(events[1], MessagePosted) and events[1].text == "Hello"
    with pytest.raises(InvalidCommand, match="first_index"):
        session.post_assistant_reply(history(), final(chunks=(), first_index=-1))


def test_a_final_answer_to_a_message_whose_replies_were_cancelled_is_refused_but_a_cancelled_reply_is_not():
    state = history(ReplyCancelled(session_id=SID, reason=None))
    with pytest.raises(ReplyCancelledError):
        session.post_assistant_reply(state, final(chunks=("Hel",), reply_to_version=2))
    assert session.post_assistant_reply(state, final(chunks=()))  # the reply recorded as cancelled
    assert session.post_assistant_reply(state, final(chunks=(), reply_to_version=4))  # a later message's
