"""Streamed replies one chunk at a time, and cancelling the replies in progress."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import InvalidCommand, StateConflict
from domain.events import DomainEvent
from domain.session import aggregate as session
from domain.session.commands import AppendReplyChunk, CancelReply
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
