"""Answering one user message: reserve, call the model, stream chunks, run tools, settle, reply once.

Every command carries an idempotency key derived from the user message's event and its step
(workers/runtime.py: key_for), and new ids are derived the same way, so a redelivered message (a
worker killed mid-reply) repeats nothing: reservations, settlements, chunks and tool requests
already recorded are returned as recorded, and the final reply (key "reply") exists at most once,
whatever ended the turn: an answer, a refusal of the budget, a cancel, a model error.

The final model call's settlement is recorded while the reply is (not before it: the reply waits for
nothing the person does not see). A worker cut off between the two leaves the reservation open; the
message delivered again finds the reply recorded and settles it at the tokens reserved (`settle_left`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from domain.budget.aggregate import DECIDER as USAGE
from domain.budget.aggregate import DEFAULT_PERSONA
from domain.budget.aggregate import stream_id as usage_stream_id
from domain.budget.commands import ReserveTokens, SettleReservation
from domain.budget.errors import BudgetExhausted, ReservationNotOpen
from domain.budget.service import reserve_tokens, settle_tokens
from domain.errors import DomainError
from domain.events import CommandContext, RecordedEvent, TraceContext
from domain.session.aggregate import DECIDER, Session, is_cancelled, stream_id
from domain.session.commands import AppendReplyChunk, PostAssistantReply
from domain.session.errors import ReplyCancelledError
from domain.session.events import AssistantReplyChunk, MessagePosted
from domain.session.service import append_chunk, post_reply
from domain.tool.commands import RequestTool
from domain.tool.errors import ToolAlreadyRequested
from domain.tool.service import request_tool
from eventstore.store import PostgresEventStore
from observability import tracing
from observability.metrics import BUDGET_REFUSALS
from workers.conversation.responder import Responder, ResponderError, Text, ToolCall, Turn, Usage
from workers.conversation.settings import ConversationSettings
from workers.conversation.tools import offered_tools, outcomes, wait_for
from workers.runtime import id_for, key_for


class Stopped(Exception):
    """The reply was cancelled between steps."""


@dataclass
class Said:
    """What one model call said: its text chunks, its tool calls, its usage (None: never reported)."""

    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None


class Reply:
    """The reply to the user message `cause` (a MessagePosted by the user) in `session`."""

    def __init__(self, store: PostgresEventStore, settings: ConversationSettings, cause: RecordedEvent) -> None:
        assert isinstance(cause.event, MessagePosted)
        self.store, self.settings, self.cause = store, settings, cause
        self.message: MessagePosted = cause.event
        self.session_id = self.message.session_id
        self.tenant = cause.meta.tenant_id
        self.version = cause.meta.stream_version
        self.reply_id = id_for(cause, "reply")
        self.day = cause.meta.occurred_at.astimezone(UTC).date()  # the day the message was posted pays
        self.recorded: list[str] = []  # the chunks recorded, in order
        self.pending: list[str] = []  # text said and not yet recorded (see _stream)
        # a retry of a reply that had recorded chunks streams none: chunk boundaries depend on timing, so
        # this run's chunks would not line up with those of the run that was cut off
        self.resumed = False
        self.unsettled: Callable[[], Awaitable[None]] | None = None  # the final call's settlement, made with the reply

    def context(self, step: str) -> CommandContext:
        meta = self.cause.meta
        return CommandContext(
            tenant_id=self.tenant,
            correlation_id=meta.correlation_id,
            causation_id=meta.event_id,
            occurred_at=datetime.now(UTC),
            trace=_traced(meta.trace),
            idempotency_key=key_for(self.cause, step),
        )

    async def progress(self) -> set[str]:
        """Which of the steps "reply" (answered), "chunk:0" (streaming), "reserve:k" (model call k begun) and
        "settle:k" (settled) are recorded already: one look, for a message delivered again after a worker was
        cut off (which makes this a resumed reply). Called before `run`."""
        calls = range(self.settings.conversation_max_steps)
        names = ("reply", "chunk:0", *(f"{kind}:{k}" for k in calls for kind in ("reserve", "settle")))
        steps = {key_for(self.cause, step): step for step in names}
        done = {steps[key] for key in await self.store.recorded_keys(list(steps))}
        self.resumed = "chunk:0" in done
        return done

    async def session(self) -> Session | None:
        """The session as stored now (not as this process remembers it: the API cancels and closes)."""
        return (await self.store.load(DECIDER, stream_id(self.session_id), self.tenant, fresh=True))[0]

    async def cancelled(self) -> bool:
        return self.stopped(await self.session())

    def stopped(self, session: Session | None) -> bool:
        """Whether this reply must not go on in `session` as stored: gone, closed, or the reply cancelled."""
        return session is None or session.closed or is_cancelled(session, self.version)

    async def run(self, responder: Responder, history: list[Turn], persona: str | None) -> None:
        """Answer, then record the one final reply (or none when cancelled before anything was said)."""
        try:
            text, status = await self._loop(responder, history, persona or DEFAULT_PERSONA)
        except (Stopped, ReplyCancelledError):
            await self.finish_cancelled()
            return
        except BudgetExhausted as refused:
            BUDGET_REFUSALS.labels("conversation").inc()
            text, status = self._joined(_refusal(refused)), "budget_exhausted"
        except ResponderError as e:
            text, status = self._joined(f"I could not answer: the model's answer was unusable ({e})."), "error"
        await self._finish(text, status)

    async def fail(self, error: ResponderError) -> None:
        """Reply that no model could be asked (no responder for the session's profile)."""
        await self._finish(f"I could not answer: {error}.", "error")

    async def _loop(self, responder: Responder, history: list[Turn], persona: str) -> tuple[str, str]:
        for step in range(self.settings.conversation_max_steps):
            if step and await self.cancelled():  # before the first step the caller looked (worker.answer)
                raise Stopped
            said = await self._call(step, responder, history, persona)
            if not said.calls:
                return "".join(said.text).strip() or "(no answer)", "answered"
            await self._flush()
            history.append(Turn("assistant", "".join(said.text), tool_calls=tuple(said.calls)))
            history.extend(await self._tools(step, said.calls))
        limit = self.settings.conversation_max_steps
        return self._joined(f"I stopped after {limit} steps without a final answer."), "step_limit"

    async def _call(self, step: int, responder: Responder, history: Sequence[Turn], persona: str) -> Said:
        """One model call between a reservation and its settlement (the estimate when the call broke off)."""
        estimate = max(responder.estimate(history), 1)
        reserve = self._reservation(step, persona, estimate)
        await reserve_tokens(self.store, self.context(f"reserve:{step}"), reserve)
        said = Said()
        try:
            with tracing.span("model.call", kind=tracing.SpanKind.CLIENT, attributes=_model(responder, step)) as call:
                await self._stream(responder.respond(history, offered_tools()), said)
                _usage(call, said)
        except (DomainError, ResponderError):
            await self._settle(step, persona, estimate)
            raise
        used = said.usage.total if said.usage else estimate
        if said.calls:
            await self._settle(step, persona, used)
        else:  # the final answer: settled while the reply is recorded (_finish), not before it
            self.unsettled = partial(self._settle, step, persona, used)
        return said

    def _reservation(self, step: int, persona: str, tokens: int) -> ReserveTokens:
        return ReserveTokens(
            tenant_id=self.tenant,
            persona_id=persona,
            day=self.day,
            reservation_id=self._reservation_id(step),
            tokens=tokens,
            session_id=self.session_id,
        )

    async def settle_left(self, done: set[str], session: Session | None) -> None:
        """Settle the reservations an answered message left open (a worker cut off after its reply and before
        the settlement beside it), at the tokens reserved: what the call used is no longer known."""
        calls = range(self.settings.conversation_max_steps)
        left = [k for k in calls if f"reserve:{k}" in done and f"settle:{k}" not in done]
        if not left:
            return
        persona = (session.persona_id if session else None) or DEFAULT_PERSONA
        usage_id = usage_stream_id(self.tenant, persona, self.day)
        usage = (await self.store.load(USAGE, usage_id, self.tenant, fresh=True))[0]
        for k in left:
            if usage is not None and (tokens := usage.reservations.get(str(self._reservation_id(k)))) is not None:
                await self._settle(k, persona, tokens)

    def _reservation_id(self, step: int) -> uuid.UUID:
        """The id of the reservation of model call `step`, the same on every delivery of the message."""
        return id_for(self.cause, f"reserve:{step}")

    async def _settle(self, step: int, persona: str, tokens: int) -> None:
        command = SettleReservation(
            tenant_id=self.tenant,
            persona_id=persona,
            day=self.day,
            reservation_id=self._reservation_id(step),
            actual_tokens=tokens,
            session_id=self.session_id,
        )
        with suppress(ReservationNotOpen):  # a twin handling the same message (a redelivery) settled it
            await settle_tokens(self.store, self.context(f"settle:{step}"), command)

    async def _stream(self, pieces: AsyncIterator[object], said: Said) -> None:
        """Record text as it comes, as chunks: the text that arrived within the chunk interval of the
        last chunk recorded (or of the call) waits and goes out with the next piece, as one chunk;
        what is left at the end waits in `self.pending` for the final reply. Keeps calls and usage."""
        interval = self.settings.conversation_chunk_interval_ms / 1000
        last = time.monotonic()
        async for piece in pieces:
            match piece:
                case Text(text=text) if text:
                    said.text.append(text)
                    self.pending.append(text)
                    if time.monotonic() - last >= interval:
                        await self._flush()
                        last = time.monotonic()
                case ToolCall():
                    said.calls.append(piece)
                case Usage():
                    said.usage = piece

    async def _flush(self) -> None:
        """Record the text waiting as one chunk (refused once the reply is cancelled); none when resumed."""
        if not self.pending or self.resumed:
            return
        index = len(self.recorded)
        text = "".join(self.pending)
        command = AppendReplyChunk(
            session_id=self.session_id,
            tenant_id=self.tenant,
            message_id=self.reply_id,
            index=index,
            text=text,
            reply_to_version=self.version,
        )
        await append_chunk(self.store, self.context(f"chunk:{index}"), command)
        self.recorded.append(text)
        self.pending.clear()

    async def _tools(self, step: int, calls: Sequence[ToolCall]) -> list[Turn]:
        """Request every call of this step, then wait for all their outcomes: the tool turns."""
        requests = []
        for i, call in enumerate(calls):
            request = id_for(self.cause, f"tool:{step}:{i}")
            command = RequestTool(
                request_id=request,
                tool_name=call.name,
                arguments_json=json.dumps(dict(call.arguments)),
                session_id=self.session_id,
                timeout_ms=self.settings.conversation_tool_timeout_ms,
            )
            with suppress(ToolAlreadyRequested):  # by a twin handling the same message
                await request_tool(self.store, self.context(f"tool:{step}:{i}"), command)
            requests.append(request)
        s = self.settings
        wait = wait_for(s.conversation_tool_timeout_ms, s.conversation_tool_grace, s.conversation_approval_wait)
        found = await outcomes(self.store, requests, self.tenant, wait, self.cancelled)
        if found is None:
            raise Stopped
        return [
            Turn("tool", found[request], call_id=call.call_id) for request, call in zip(requests, calls, strict=True)
        ]

    def _joined(self, notice: str) -> str:
        """What was said so far, then `notice`."""
        said = "".join(self.recorded + self.pending).strip()
        return f"{said}\n\n{notice}" if said else notice

    async def _finish(self, text: str, status: str) -> None:
        """The final reply, after the text still waiting as its last chunk; refused (then recorded as
        cancelled) when the reply was cancelled since the last look, unless it is that cancelled reply."""
        command = PostAssistantReply(
            session_id=self.session_id,
            tenant_id=self.tenant,
            message_id=self.reply_id,
            chunks=("".join(self.pending),) if self.pending and not self.resumed else (),
            text=text,
            metadata={"in_reply_to": str(self.message.message_id), "status": status},
            first_index=len(self.recorded),
            reply_to_version=None if status == "cancelled" else self.version,
        )
        settling = asyncio.ensure_future(self.unsettled()) if self.unsettled else None
        self.unsettled = None
        try:
            await post_reply(self.store, self.context("reply"), command)
        except ReplyCancelledError:
            await self.finish_cancelled()
        finally:
            if settling is not None:
                await settling

    async def finish_cancelled(self) -> None:
        """Record what was said as the cancelled reply (as stored: chunks of an earlier attempt count);
        nothing when nothing was said or the session is closed."""
        self.pending.clear()  # not said: it was never recorded
        session = await self.session()
        if session is None or session.closed:
            return
        events = await self.store.read_stream(stream_id(self.session_id), of_type=AssistantReplyChunk.type_name())
        said = [e.event for e in events if isinstance(e.event, AssistantReplyChunk)]
        chunks = sorted((chunk.index, chunk.text) for chunk in said if chunk.message_id == self.reply_id)
        text = "".join(text for _, text in chunks).strip()
        if text:
            await self._finish(text, "cancelled")


def _traced(cause: TraceContext | None) -> TraceContext | None:
    """What the worker records continues the span it is in (the turn, the model call), else the cause's trace."""
    traceparent = tracing.traceparent_of()
    return TraceContext(traceparent=traceparent) if traceparent else cause


def _model(responder: Responder, step: int) -> dict[str, object]:
    """A model call's span attributes (OpenTelemetry's gen_ai.* names)."""
    endpoint = getattr(responder, "endpoint", None)
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai" if endpoint else "agentlog.deterministic",
        "gen_ai.request.model": getattr(endpoint, "model", None) or "deterministic",
        "server.address": getattr(endpoint, "base_url", None),
        "agentlog.step": step,
    }


def _usage(call: tracing.Span, said: Said) -> None:
    if said.usage is not None:
        call.set_attribute("gen_ai.usage.input_tokens", said.usage.prompt_tokens)
        call.set_attribute("gen_ai.usage.output_tokens", said.usage.completion_tokens)
    call.set_attribute("agentlog.tool_calls", len(said.calls))


def _refusal(refused: BudgetExhausted) -> str:
    return (
        f"I cannot answer: the token budget of {refused.persona_id} for {refused.day.isoformat()} is exhausted "
        f"(this answer needs {refused.requested} tokens, {refused.remaining} of {refused.limit} are left). "
        "It renews at midnight UTC."
    )
