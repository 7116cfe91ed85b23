"""Session decisions: start, post user, system and streamed assistant messages, close; tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.errors import InvalidCommand, NotFound, StateConflict, UnexpectedEvent
from domain.events import DomainEvent
from domain.session import aggregate as session
from domain.session.commands import (
    CloseSession,
    PostAssistantReply,
    PostSystemMessage,
    PostUserMessage,
    StartSession,
)
from domain.session.errors import SessionAlreadyStarted, SessionClosedError, TextTooLong
from domain.session.events import (
    AssistantReplyChunk,
    Attachment,
    MessagePosted,
    Role,
    SessionClosed,
    SessionStarted,
)

TENANT = "acme"


@pytest.fixture
def sid() -> uuid.UUID:
    return uuid.uuid4()


def given(*events: DomainEvent) -> session.Session | None:
    return session.DECIDER.fold(events)


def started(sid: uuid.UUID, tenant: str = TENANT, persona: str | None = "helper") -> SessionStarted:
    return SessionStarted(session_id=sid, tenant_id=tenant, persona_id=persona)


def user_message(sid: uuid.UUID, text: str = "hello", tenant: str = TENANT, **extra: Any) -> PostUserMessage:
    return PostUserMessage(session_id=sid, tenant_id=tenant, message_id=uuid.uuid4(), text=text, **extra)


def test_starting_a_new_session_records_who_owns_it(sid):
    events = session.start(given(), StartSession(session_id=sid, tenant_id=TENANT, persona_id="helper"))
    assert events == [started(sid)]
    state = given(*events)
    assert state == session.Session(session_id=sid, tenant_id=TENANT, persona_id="helper", version=1)


def test_starting_an_existing_session_is_a_conflict(sid):
    with pytest.raises(SessionAlreadyStarted) as raised:
        session.start(given(started(sid)), StartSession(session_id=sid, tenant_id=TENANT))
    assert isinstance(raised.value, StateConflict)
    assert raised.value.session_id == sid
    assert raised.value.stream_id == str(sid)


def test_a_user_message_is_posted_with_its_attachments_and_metadata(sid):
    attachment = Attachment(name="a.png", media_type="image/png", url="https://files/a.png", size_bytes=3)
    command = user_message(sid, attachments=(attachment,), metadata={"lang": "en"})
    events = session.post_user_message(given(started(sid)), command)
    assert events == [
        MessagePosted(
            session_id=sid,
            message_id=command.message_id,
            role=Role.USER,
            text="hello",
            attachments=(attachment,),
            metadata={"lang": "en"},
        )
    ]


def test_a_system_message_is_posted_with_the_system_role(sid):
    command = PostSystemMessage(session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), text="be brief")
    events = session.post_system_message(given(started(sid)), command)
    assert events == [MessagePosted(session_id=sid, message_id=command.message_id, role=Role.SYSTEM, text="be brief")]


def test_a_streamed_reply_is_its_chunks_in_order_then_the_whole_message(sid):
    message_id = uuid.uuid4()
    command = PostAssistantReply(
        session_id=sid, tenant_id=TENANT, message_id=message_id, chunks=("Hel", "lo", " "), text="Hello"
    )
    events = session.post_assistant_reply(given(started(sid)), command)
    assert events == [
        AssistantReplyChunk(session_id=sid, message_id=message_id, index=0, text="Hel"),
        AssistantReplyChunk(session_id=sid, message_id=message_id, index=1, text="lo"),
        AssistantReplyChunk(session_id=sid, message_id=message_id, index=2, text=" "),
        MessagePosted(session_id=sid, message_id=message_id, role=Role.ASSISTANT, text="Hello"),
    ]


def test_a_reply_without_chunks_is_just_the_message(sid):
    command = PostAssistantReply(session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), chunks=(), text="Hi")
    events = session.post_assistant_reply(given(started(sid)), command)
    assert [type(e) for e in events] == [MessagePosted]


def test_messages_are_counted_and_the_last_one_remembered(sid):
    first, second = uuid.uuid4(), uuid.uuid4()
    state = given(
        started(sid),
        MessagePosted(session_id=sid, message_id=first, role=Role.USER, text="q"),
        AssistantReplyChunk(session_id=sid, message_id=second, index=0, text="a"),
        MessagePosted(session_id=sid, message_id=second, role=Role.ASSISTANT, text="a"),
    )
    assert state is not None
    assert (state.message_count, state.last_message_id, state.closed) == (2, second, False)


def test_closing_records_the_reason_and_closes_the_state(sid):
    events = session.close(given(started(sid)), CloseSession(session_id=sid, tenant_id=TENANT, reason="done"))
    assert events == [SessionClosed(session_id=sid, reason="done")]
    state = given(started(sid), *events)
    assert state is not None
    assert state.closed


def test_closing_twice_is_a_conflict(sid):
    with pytest.raises(SessionClosedError) as raised:
        session.close(
            given(started(sid), SessionClosed(session_id=sid)), CloseSession(session_id=sid, tenant_id=TENANT)
        )
    assert isinstance(raised.value, StateConflict)
    assert raised.value.session_id == sid


@pytest.mark.parametrize(
    "decide",
    [
        lambda state, sid: session.post_user_message(state, user_message(sid)),
        lambda state, sid: session.post_system_message(
            state, PostSystemMessage(session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), text="x")
        ),
        lambda state, sid: session.post_assistant_reply(
            state, PostAssistantReply(session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), chunks=(), text="x")
        ),
    ],
    ids=["user", "system", "assistant"],
)
def test_a_closed_session_refuses_every_kind_of_message(sid, decide):
    with pytest.raises(SessionClosedError) as raised:
        decide(given(started(sid), SessionClosed(session_id=sid)), sid)
    assert raised.value.session_id == sid


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_is_invalid(sid, text):
    with pytest.raises(InvalidCommand) as raised:
        session.post_user_message(given(started(sid)), user_message(sid, text=text))
    assert raised.value.field == "text"


def test_text_at_the_limit_is_accepted_and_one_more_character_is_not(sid):
    state = given(started(sid))
    assert session.post_user_message(state, user_message(sid, text="x" * session.MAX_TEXT_CHARS))
    with pytest.raises(TextTooLong) as raised:
        session.post_user_message(state, user_message(sid, text="x" * (session.MAX_TEXT_CHARS + 1)))
    assert (raised.value.field, raised.value.length, raised.value.limit) == ("text", 32_001, 32_000)
    assert isinstance(raised.value, InvalidCommand)


def test_an_assistant_reply_with_blank_final_text_is_invalid(sid):
    command = PostAssistantReply(session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), chunks=("a",), text=" ")
    with pytest.raises(InvalidCommand) as raised:
        session.post_assistant_reply(given(started(sid)), command)
    assert raised.value.field == "text"


@pytest.mark.parametrize("chunk", ["", "x" * 32_001])
def test_an_empty_or_oversized_chunk_is_invalid(sid, chunk):
    command = PostAssistantReply(
        session_id=sid, tenant_id=TENANT, message_id=uuid.uuid4(), chunks=("ok", chunk), text="ok"
    )
    with pytest.raises(InvalidCommand) as raised:
        session.post_assistant_reply(given(started(sid)), command)
    assert raised.value.field == "chunks"


def test_a_message_to_a_missing_session_is_not_found(sid):
    with pytest.raises(NotFound) as raised:
        session.post_user_message(given(), user_message(sid))
    assert (raised.value.stream_type, raised.value.stream_id) == ("session", str(sid))


@pytest.mark.parametrize(
    "decide",
    [
        lambda state, sid: session.post_user_message(state, user_message(sid, tenant="intruder")),
        lambda state, sid: session.post_system_message(
            state, PostSystemMessage(session_id=sid, tenant_id="intruder", message_id=uuid.uuid4(), text="x")
        ),
        lambda state, sid: session.post_assistant_reply(
            state,
            PostAssistantReply(session_id=sid, tenant_id="intruder", message_id=uuid.uuid4(), chunks=(), text="x"),
        ),
        lambda state, sid: session.close(state, CloseSession(session_id=sid, tenant_id="intruder")),
    ],
    ids=["user", "system", "assistant", "close"],
)
def test_another_tenant_is_told_the_session_does_not_exist(sid, decide):
    with pytest.raises(NotFound) as raised:
        decide(given(started(sid)), sid)
    assert raised.value.stream_id == str(sid)


def test_another_tenant_learns_nothing_even_about_a_closed_session(sid):
    with pytest.raises(NotFound):
        session.post_user_message(
            given(started(sid), SessionClosed(session_id=sid)), user_message(sid, tenant="intruder")
        )


def test_closing_a_missing_session_is_not_found(sid):
    with pytest.raises(NotFound):
        session.close(given(), CloseSession(session_id=sid, tenant_id=TENANT))


def test_an_event_that_cannot_follow_the_history_is_a_corrupted_stream(sid):
    with pytest.raises(UnexpectedEvent) as raised:
        given(MessagePosted(session_id=sid, message_id=uuid.uuid4(), role=Role.USER, text="x"))
    assert (raised.value.stream_type, raised.value.event_type, raised.value.version) == (
        "session",
        "agentlog.session.MessagePosted",
        0,
    )
    with pytest.raises(UnexpectedEvent):
        given(started(sid), started(sid))


def test_folding_every_event_counts_them_in_the_version(sid):
    message_id = uuid.uuid4()
    events = [
        started(sid),
        MessagePosted(session_id=sid, message_id=uuid.uuid4(), role=Role.SYSTEM, text="s"),
        MessagePosted(session_id=sid, message_id=uuid.uuid4(), role=Role.USER, text="u"),
        AssistantReplyChunk(session_id=sid, message_id=message_id, index=0, text="a"),
        MessagePosted(session_id=sid, message_id=message_id, role=Role.ASSISTANT, text="a"),
        SessionClosed(session_id=sid),
    ]
    state = session.DECIDER.fold(events)
    assert state is not None
    assert state.version == len(events)
    assert session.DECIDER.stream_type == "session"
    assert session.stream_id(sid) == str(sid)
