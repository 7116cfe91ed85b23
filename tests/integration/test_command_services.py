"""Command services end to end on the real event store: rules, tenancy, no overspend under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest

from domain.budget.commands import ConsumeTokens, SetBudgetLimit
from domain.budget.errors import BudgetExhausted
from domain.budget.events import BudgetExceeded, TokensConsumed
from domain.budget.service import consume_tokens, set_budget_limit
from domain.delegation.commands import CompleteDelegationTask, CreateDelegationTask, StartDelegationTask
from domain.delegation.service import complete_task, create_task, start_task
from domain.errors import NotFound
from domain.events import CommandContext
from domain.model_profile.commands import RemoveModelProfile, SetModelProfile
from domain.model_profile.service import remove_model_profile, set_model_profile
from domain.session.commands import CloseSession, PostUserMessage, StartSession
from domain.session.errors import SessionClosedError
from domain.session.events import MessagePosted, SessionStarted
from domain.session.service import StartWithMessage, close_session, post_user, start_with_message
from domain.tool.commands import CompleteTool, FailTool, RequestTool
from domain.tool.errors import ToolOutcomeAlreadyRecorded
from domain.tool.service import complete_tool, fail_tool, request_tool


def ctx(tenant: str = "acme") -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


def first_message(session: uuid.UUID, text: str = "hello") -> StartWithMessage:
    return StartWithMessage(
        start=StartSession(session_id=session, tenant_id="acme", persona_id="helper"),
        message=PostUserMessage(session_id=session, tenant_id="acme", message_id=uuid.uuid4(), text=text),
    )


async def test_a_new_session_and_its_first_message_are_one_atomic_append(event_store):
    session = uuid.uuid4()
    result = await start_with_message(event_store, ctx(), first_message(session))

    recorded = await event_store.read_stream(str(session))
    assert result.version == 2
    assert [type(r.event) for r in recorded] == [SessionStarted, MessagePosted]
    assert {r.meta.tenant_id for r in recorded} == {"acme"}


async def test_a_closed_session_refuses_messages_and_records_nothing(event_store):
    session = uuid.uuid4()
    await start_with_message(event_store, ctx(), first_message(session))
    await close_session(event_store, ctx(), CloseSession(session_id=session, tenant_id="acme"))

    with pytest.raises(SessionClosedError):
        await post_user(
            event_store,
            ctx(),
            PostUserMessage(session_id=session, tenant_id="acme", message_id=uuid.uuid4(), text="late"),
        )
    assert len(await event_store.read_stream(str(session))) == 3


async def test_another_tenant_cannot_see_or_touch_a_stream(event_store):
    session, request = uuid.uuid4(), uuid.uuid4()
    await start_with_message(event_store, ctx(), first_message(session))
    await request_tool(event_store, ctx(), RequestTool(request_id=request, tool_name="search", arguments_json="{}"))

    with pytest.raises(NotFound):
        await post_user(
            event_store,
            ctx("globex"),
            PostUserMessage(session_id=session, tenant_id="globex", message_id=uuid.uuid4(), text="hi"),
        )
    with pytest.raises(NotFound):
        await complete_tool(
            event_store, ctx("globex"), CompleteTool(request_id=request, result_json="{}", duration_ms=3)
        )


async def test_a_tool_execution_takes_exactly_one_outcome(event_store):
    request = uuid.uuid4()
    await request_tool(
        event_store, ctx(), RequestTool(request_id=request, tool_name="search", arguments_json='{"q":1}')
    )
    await complete_tool(event_store, ctx(), CompleteTool(request_id=request, result_json='{"hits":[]}', duration_ms=12))

    with pytest.raises(ToolOutcomeAlreadyRecorded):
        await fail_tool(event_store, ctx(), FailTool(request_id=request, error="boom", duration_ms=1))
    assert len(await event_store.read_stream(str(request))) == 2


async def test_concurrent_charges_never_overspend_and_refusals_are_recorded(event_store):
    day = date(2026, 11, 24)
    await set_budget_limit(event_store, ctx(), SetBudgetLimit(tenant_id="acme", persona_id=None, daily_tokens=1000))
    charge = ConsumeTokens(tenant_id="acme", persona_id="helper", day=day, tokens=100)

    outcomes = await asyncio.gather(
        *(consume_tokens(event_store, ctx(), charge) for _ in range(30)), return_exceptions=True
    )

    assert sum(not isinstance(o, Exception) for o in outcomes) == 10
    assert [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, BudgetExhausted)] == []
    events = [r.event for r in await event_store.read_stream(f"budget:acme:helper:{day.isoformat()}")]
    consumed = [e for e in events if isinstance(e, TokensConsumed)]
    assert sum(e.tokens for e in consumed) == 1000
    assert max(e.used_after for e in consumed) == 1000
    assert sum(isinstance(e, BudgetExceeded) for e in events) == 20


async def test_a_delegation_task_runs_through_its_lifecycle(event_store):
    task = uuid.uuid4()
    await create_task(
        event_store,
        ctx(),
        CreateDelegationTask(
            task_id=task, title="summarise", instructions="do it", callback_url="https://example.test/cb"
        ),
    )
    await start_task(event_store, ctx(), StartDelegationTask(task_id=task, worker="w1"))
    result = await complete_task(event_store, ctx(), CompleteDelegationTask(task_id=task, result="done"))

    assert result.version == 3
    assert result.position > 0


async def test_model_profiles_are_set_replaced_and_removed(event_store):
    profile = SetModelProfile(
        role="chat",
        deployment_mode=f"m{uuid.uuid4().hex[:6]}",
        model="gpt-x",
        base_url="https://llm.test",
        api_path="/v1/chat",
        temperature=0.2,
        extras={"k": "v"},
    )
    await set_model_profile(event_store, ctx(), profile)
    await set_model_profile(event_store, ctx(), profile)
    removed = await remove_model_profile(
        event_store, ctx(), RemoveModelProfile(role="chat", deployment_mode=profile.deployment_mode)
    )
    assert removed.version == 3
    with pytest.raises(NotFound):
        await remove_model_profile(
            event_store, ctx(), RemoveModelProfile(role="chat", deployment_mode=profile.deployment_mode)
        )
