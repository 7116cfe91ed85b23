"""Exactly one reply and no overspend: the handler run again, and by several workers at once, on one store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from domain.budget.aggregate import DECIDER as USAGE
from domain.budget.aggregate import stream_id as usage_stream
from domain.budget.commands import SetBudgetLimit
from domain.budget.events import ReservationSettled, TokensReserved
from domain.budget.service import reserve_tokens, set_budget_limit
from domain.events import CommandContext
from domain.session.commands import CancelReply, PostAssistantReply, PostUserMessage, StartSession
from domain.session.events import AssistantReplyChunk, MessagePosted, ReplyCancelled, Role
from domain.session.service import StartWithMessage, cancel, post_reply, post_user, start_with_message
from eventstore.store import PostgresEventStore
from workers.conversation.deterministic import ABOUT
from workers.conversation.reply import Reply
from workers.conversation.responder import ResponderError, Text, Turn, Usage
from workers.conversation.settings import ConversationSettings
from workers.conversation.worker import answer, history_until

SETTINGS = ConversationSettings()


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def new_session(store: PostgresEventStore, tenant: str, persona: str, text: str = "hi"):
    """A session with one user message; returns that message's recorded event (the worker's cause)."""
    session = uuid.uuid4()
    start = StartSession(session_id=session, tenant_id=tenant, persona_id=persona)
    message = PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=text)
    await start_with_message(store, ctx(tenant), StartWithMessage(start=start, message=message))
    return (await store.read_stream(str(session)))[1]


async def test_a_redelivered_message_is_answered_once_with_one_charge(event_store, pg_schema, codec):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    other = await PostgresEventStore.connect(pg_schema.dsn, codec, schema=pg_schema.name)
    try:  # the same event at once in two worker processes, then again later
        await asyncio.gather(answer(event_store, SETTINGS, cause), answer(other, SETTINGS, cause))
        await answer(other, SETTINGS, cause)
    finally:
        await other.close()

    events = [e.event for e in await event_store.read_stream(cause.meta.stream_id)]
    replies = [e for e in events if isinstance(e, MessagePosted) and e.role is Role.ASSISTANT]
    chunks = [e for e in events if isinstance(e, AssistantReplyChunk)]
    assert [r.text for r in replies] == [ABOUT]
    assert [c.index for c in chunks] == list(range(len(chunks))) and "".join(c.text for c in chunks) == ABOUT
    charges = await event_store.read_stream(usage_stream(tenant, "p", cause.meta.occurred_at.date()))
    assert [type(e.event) for e in charges] == [TokensReserved, ReservationSettled]


async def test_many_messages_answered_by_several_workers_at_once_never_overspend(event_store, pg_schema, codec):
    tenant, limit = f"t{uuid.uuid4().hex[:8]}", 500
    await set_budget_limit(
        event_store, ctx(tenant), SetBudgetLimit(tenant_id=tenant, persona_id="p", daily_tokens=limit)
    )
    causes = [await new_session(event_store, tenant, "p", f"hello {i}") for i in range(24)]
    workers = [event_store] + [
        await PostgresEventStore.connect(pg_schema.dsn, codec, schema=pg_schema.name) for _ in range(2)
    ]
    try:  # every worker handles every message (a redelivery storm), all at once
        await asyncio.gather(*(answer(w, SETTINGS, c) for c in causes for w in workers))
    finally:
        for worker in workers[1:]:
            await worker.close()

    day = causes[0].meta.occurred_at.date()
    usage, _ = await event_store.load(USAGE, usage_stream(tenant, "p", day), tenant, fresh=True)
    charges = [e.event for e in await event_store.read_stream(usage_stream(tenant, "p", day))]
    settled = [e for e in charges if isinstance(e, ReservationSettled)]
    assert usage.used == sum(e.charged for e in settled) <= limit and usage.reservations == {}
    assert max(e.used_after for e in charges if hasattr(e, "used_after")) <= limit
    statuses = []
    for cause in causes:
        events = [e.event for e in await event_store.read_stream(cause.meta.stream_id)]
        [reply] = [e for e in events if isinstance(e, MessagePosted) and e.role is Role.ASSISTANT]
        statuses.append(reply.metadata["status"])
    answered = statuses.count("answered")
    assert answered == len(settled) and answered >= 1
    assert statuses.count("budget_exhausted") == len(causes) - answered


async def test_text_streamed_within_the_chunk_interval_is_recorded_as_one_chunk_with_the_reply(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    await answer(event_store, SETTINGS, cause)  # the deterministic responder says it all at once

    recorded = (await event_store.read_stream(cause.meta.stream_id))[cause.meta.stream_version :]
    assert [type(r.event) for r in recorded] == [AssistantReplyChunk, MessagePosted]
    assert recorded[0].event.text == recorded[1].event.text == ABOUT
    assert recorded[0].meta.occurred_at == recorded[1].meta.occurred_at  # one command, one append


async def test_text_streamed_slower_than_the_chunk_interval_is_recorded_piece_by_piece(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    slow = ConversationSettings(conversation_chunk_delay=0.03, conversation_chunk_interval_ms=10)
    await answer(event_store, slow, cause)

    recorded = (await event_store.read_stream(cause.meta.stream_id))[cause.meta.stream_version :]
    chunks = [r.event for r in recorded if isinstance(r.event, AssistantReplyChunk)]
    assert len(chunks) > 5 and [c.index for c in chunks] == list(range(len(chunks)))
    assert "".join(c.text for c in chunks) == ABOUT


async def test_the_model_is_shown_the_last_messages_up_to_the_one_it_answers(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    first = await new_session(event_store, tenant, "p", text="m0")
    session = first.event.session_id
    for i in range(1, 6):
        post = PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"m{i}")
        await post_user(event_store, ctx(tenant), post)
    stream = await event_store.read_stream(str(session))
    cause = next(r for r in stream if isinstance(r.event, MessagePosted) and r.event.text == "m4")

    shown = await history_until(event_store, cause, 3)

    assert [(t.role, t.text) for t in shown] == [("user", "m2"), ("user", "m3"), ("user", "m4")]


async def test_a_message_older_than_the_max_age_is_left_unanswered(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    await asyncio.sleep(0.05)

    await answer(event_store, ConversationSettings(conversation_max_age=0.01), cause)
    assert len(await event_store.read_stream(cause.meta.stream_id)) == cause.meta.stream_version  # nothing

    await answer(event_store, SETTINGS, cause)  # within the default hour: answered
    replies = [e.event for e in await event_store.read_stream(cause.meta.stream_id)]
    assert [r.text for r in replies if isinstance(r, MessagePosted) and r.role is Role.ASSISTANT] == [ABOUT]


class Scripted:
    """A responder saying `pieces` `gap` seconds apart; `then` is raised after them (a worker cut off)."""

    def __init__(self, pieces: Sequence[str], gap: float, then: Exception | None = None, before_end=None) -> None:
        self.pieces, self.gap, self.then, self.before_end = pieces, gap, then, before_end

    def estimate(self, history) -> int:
        return 10

    async def respond(self, history, tools):
        for piece in self.pieces:
            yield Text(piece)
            await asyncio.sleep(self.gap)
        if self.before_end is not None:
            await self.before_end()
        if self.then is not None:
            raise self.then
        yield Usage(prompt_tokens=5, completion_tokens=5)


class CutOff(Exception):
    """The worker stops here (as if SIGKILLed): nothing more is recorded by this attempt."""


async def attempt(store, cause, responder) -> None:
    reply = Reply(store, ConversationSettings(), cause)
    await reply.progress()  # as worker.answer does
    await reply.run(responder, [Turn("user", "hi")], "p")


async def test_a_reply_cut_off_mid_stream_and_answered_again_at_another_pace_keeps_its_chunks_in_order(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    with pytest.raises(CutOff):  # slow: a chunk per piece, then cut off
        await attempt(event_store, cause, Scripted("abcd", 0.07, then=CutOff()))
    await attempt(event_store, cause, Scripted("abcd", 0.0))  # delivered again: all at once

    recorded = (await event_store.read_stream(cause.meta.stream_id))[cause.meta.stream_version :]
    chunks = [r.event for r in recorded if isinstance(r.event, AssistantReplyChunk)]
    replies = [r.event for r in recorded if isinstance(r.event, MessagePosted)]
    assert [c.index for c in chunks] == list(range(len(chunks))) and chunks  # no index twice
    assert "abcd".startswith("".join(c.text for c in chunks))  # what the first attempt streamed, once
    assert [r.text for r in replies] == ["abcd"]


async def test_no_chunk_follows_a_cancel_when_the_model_then_fails(event_store):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    session = cause.event.session_id

    async def cancelled() -> None:
        await cancel(event_store, ctx(tenant), CancelReply(session_id=session, tenant_id=tenant))

    await attempt(
        event_store, cause, Scripted(["partial answer"], 0.0, then=ResponderError("broken"), before_end=cancelled)
    )

    recorded = (await event_store.read_stream(cause.meta.stream_id))[cause.meta.stream_version :]
    assert [type(r.event) for r in recorded] == [ReplyCancelled]  # nothing was recorded as said: no reply


async def test_a_reply_recorded_before_its_settlement_is_settled_once_when_the_message_comes_again(event_store):
    """The final call is settled while the reply is recorded; a worker cut off between the two left it open."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    cause = await new_session(event_store, tenant, "p")
    cut = Reply(event_store, SETTINGS, cause)
    reservation = cut._reservation(0, "p", 40)
    await reserve_tokens(event_store, cut.context("reserve:0"), reservation)
    said = PostAssistantReply(
        session_id=cut.session_id, tenant_id=tenant, message_id=cut.reply_id, chunks=(), text="said before the cut"
    )
    await post_reply(event_store, cut.context("reply"), said)

    await answer(event_store, SETTINGS, cause)  # delivered again after the cut
    await answer(event_store, SETTINGS, cause)  # and once more

    charges = [e.event for e in await event_store.read_stream(reservation_stream(tenant, cause))]
    assert [type(e) for e in charges] == [TokensReserved, ReservationSettled]
    assert (charges[1].reserved, charges[1].charged) == (40, 40)  # at the tokens reserved: the call's count is lost
    events = [e.event for e in await event_store.read_stream(cause.meta.stream_id)]
    assert [e.text for e in events if isinstance(e, MessagePosted) and e.role is Role.ASSISTANT] == [said.text]


def reservation_stream(tenant: str, cause) -> str:
    return usage_stream(tenant, "p", cause.meta.occurred_at.date())
