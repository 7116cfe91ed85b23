"""Forking a session, as a pure decision over the original's events up to the fork's version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from domain.errors import StateConflict
from domain.events import EventMetadata, RecordedEvent
from domain.history import PastState
from domain.session import aggregate as session
from domain.session.commands import ForkSession
from domain.session.errors import SessionAlreadyStarted
from domain.session.events import (
    AssistantReplyChunk,
    ForkOrigin,
    MessagePosted,
    Role,
    SessionClosed,
    SessionStarted,
)

ORIGIN, FORK, QUESTION, ANSWER = (uuid.uuid4() for _ in range(4))
HISTORY = [
    SessionStarted(session_id=ORIGIN, tenant_id="acme", persona_id="helper"),
    MessagePosted(session_id=ORIGIN, message_id=QUESTION, role=Role.USER, text="2 + 2?", metadata={"k": "v"}),
    AssistantReplyChunk(session_id=ORIGIN, message_id=ANSWER, index=0, text="4"),
    MessagePosted(session_id=ORIGIN, message_id=ANSWER, role=Role.ASSISTANT, text="4",
                  metadata={"in_reply_to": str(QUESTION), "status": "answered"}),
    SessionClosed(session_id=ORIGIN, reason="done"),
]  # fmt: skip


def past(upto: int) -> PastState:
    recorded = [
        RecordedEvent(meta=EventMetadata(event_id=uuid.uuid4(), stream_id=str(ORIGIN), stream_type="session",
                                         stream_version=v, tenant_id="acme", occurred_at=datetime.now(UTC),
                                         correlation_id=uuid.uuid4()), event=e)
        for v, e in enumerate(HISTORY[:upto], start=1)
    ]  # fmt: skip
    return PastState(str(ORIGIN), "session", "acme", upto, session.DECIDER.fold(HISTORY[:upto]), recorded)


def command(at: int) -> ForkSession:
    return ForkSession(session_id=FORK, tenant_id="acme", origin_id=ORIGIN, at_version=at)


def test_a_fork_copies_the_history_in_its_own_name_and_says_where_it_comes_from():
    events = session.fork(None, past(4), command(4))

    started = events[0]
    assert started == SessionStarted(session_id=FORK, tenant_id="acme", persona_id="helper",
                                     forked_from=ForkOrigin(session_id=ORIGIN, version=4))  # fmt: skip
    question, chunk, answer = events[1:]
    assert isinstance(question, MessagePosted) and isinstance(chunk, AssistantReplyChunk)
    assert isinstance(answer, MessagePosted)
    assert {getattr(e, "session_id", None) for e in events} == {FORK}
    assert question.message_id == uuid.uuid5(FORK, str(QUESTION)) and question.metadata == {"k": "v"}
    assert chunk.message_id == answer.message_id == uuid.uuid5(FORK, str(ANSWER))
    assert answer.metadata == {"in_reply_to": str(question.message_id), "status": "answered"}
    state = session.DECIDER.fold(events)
    assert state is not None and (state.forked_at, state.message_count, state.version) == (4, 2, 4)
    assert session.fork(None, past(4), command(4)) == events  # the same fork decided twice: the same events


def test_a_fork_is_refused_onto_a_taken_id_past_the_originals_end_or_past_its_close():
    with pytest.raises(SessionAlreadyStarted):
        session.fork(session.DECIDER.fold(HISTORY[:1]), past(2), command(2))
    with pytest.raises(StateConflict) as beyond:  # 409: the session may yet reach that version
        session.fork(None, past(2), command(3))
    assert beyond.value.reason == "it is at version 2: fork at version 2 or before (at_version)"
    with pytest.raises(StateConflict, match="closed at version 5"):
        session.fork(None, past(5), command(5))
