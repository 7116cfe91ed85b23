"""The conversation worker's handler: each user message on conversation.inbound gets exactly one reply.

Other events of the topic (sessions started and closed, system messages) are not answered. A
message already answered (its reply's key is recorded), in a session closed since, cancelled
before the worker reached it, or older than AGENTLOG_CONVERSATION_MAX_AGE (a first deploy over
old sessions, an outage longer than that), is left as it is (an answered one's reservations left open
are settled).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from prometheus_client import Counter

from contracts.codec import EventCodec
from domain.events import RecordedEvent
from domain.session.events import MessagePosted, Role
from eventstore.store import PostgresEventStore
from observability import tracing
from workers.conversation.profiles import responder_for
from workers.conversation.reply import Reply
from workers.conversation.responder import ResponderError, Turn
from workers.conversation.settings import ConversationSettings
from workers.conversation.tools import offered_tools
from workers.runtime import Delivered, Handler
from workers.settings import WorkerSettings

log = logging.getLogger("agentlog.workers.conversation")
TOO_OLD = Counter("agentlog_conversation_too_old", "User messages left unanswered because they were too old")


def is_user_message(recorded: RecordedEvent) -> bool:
    return isinstance(recorded.event, MessagePosted) and recorded.event.role is Role.USER


async def answer(store: PostgresEventStore, settings: ConversationSettings, cause: RecordedEvent) -> None:
    """Answer one user message (see workers/conversation/reply.py), once, unless it is too old to begin."""
    reply = Reply(store, settings, cause)
    # read at once (the session's state and the history are wasted only on a message that is not answered)
    done, session, history = await asyncio.gather(
        reply.progress(), reply.session(), history_until(store, cause, settings.conversation_history)
    )
    if "reply" in done:
        await reply.settle_left(done, session)
        return
    age = (datetime.now(UTC) - cause.meta.occurred_at).total_seconds()
    if not done and age > settings.conversation_max_age:  # a reply begun is finished (and its tokens settled)
        log.warning("message %s is %.0f s old: not answered (AGENTLOG_CONVERSATION_MAX_AGE)", cause.meta.event_id, age)
        TOO_OLD.inc()
        return
    if session is not None and cause.meta.stream_version <= session.forked_at:
        return  # a fork's copy of its original's history: answered there, if at all
    if session is None or reply.stopped(session):  # closed, or cancelled before the worker reached it (or came back)
        await reply.finish_cancelled()
        return
    try:
        responder = await responder_for(store, settings, session)
    except ResponderError as e:
        await reply.fail(e)
        return
    await reply.run(responder, history, session.persona_id)


async def history_until(store: PostgresEventStore, cause: RecordedEvent, limit: int) -> list[Turn]:
    """The session's last `limit` messages up to and including the cause, as the model sees them."""
    # the messages of the tail only: a long conversation is not read whole for every message
    stream, upto = cause.meta.stream_id, cause.meta.stream_version
    events = await store.read_stream(stream, upto=upto, last=limit, of_type=MessagePosted.type_name())
    return [Turn(e.event.role.value, e.event.text) for e in events if isinstance(e.event, MessagePosted)]


def _turn(cause: RecordedEvent) -> dict[str, object]:
    """What a turn's span says: the message it answers."""
    meta = cause.meta
    return {
        "agentlog.tenant": meta.tenant_id,
        "agentlog.stream_id": meta.stream_id,
        "agentlog.event_type": cause.event.type_name(),
        "agentlog.event_id": str(meta.event_id),
    }


async def make_handler(settings: WorkerSettings, store: PostgresEventStore, codec: EventCodec) -> Handler:
    """The handler of `agentlog worker conversation` (settings: ConversationSettings)."""
    assert isinstance(settings, ConversationSettings)
    offered_tools()  # an installed tool that cannot be loaded stops the worker now, not at the first message

    async def handle(delivered: Delivered) -> None:
        if is_user_message(delivered.recorded):
            with tracing.span("conversation.turn", delivered.trace_parent, attributes=_turn(delivered.recorded)):
                await answer(store, settings, delivered.recorded)

    return handle
