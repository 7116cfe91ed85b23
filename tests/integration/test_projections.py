"""Projections on real Kafka and Redis, fed by the real write side: every view, exactly once, restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date

import pytest
import redis

from domain.budget.commands import ConsumeTokens, SetBudgetLimit
from domain.budget.service import consume_tokens, set_budget_limit
from domain.delegation.commands import CompleteDelegationTask, CreateDelegationTask, StartDelegationTask
from domain.delegation.service import complete_task, create_task, start_task
from domain.model_profile.commands import RemoveModelProfile, SetModelProfile
from domain.model_profile.service import remove_model_profile, set_model_profile
from domain.session.commands import CloseSession, PostAssistantReply, PostUserMessage, StartSession
from domain.session.service import StartWithMessage, close_session, post_reply, start_with_message
from domain.tool.commands import CompleteTool, RequestTool
from domain.tool.service import complete_tool, request_tool
from observability import redisconn
from projections.queries import ViewBehind
from projections.views import Keys
from tests.support.projections import ctx, project, publish, session_with_messages


async def test_every_view_reflects_what_the_write_side_recorded(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, reads, tenant
):
    session, request, task, day = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), date(2026, 11, 24)
    first, reply = uuid.uuid4(), uuid.uuid4()
    role = f"planner-{tenant}"
    await start_with_message(
        event_store,
        ctx(tenant),
        StartWithMessage(
            start=StartSession(session_id=session, tenant_id=tenant, persona_id="helper"),
            message=PostUserMessage(session_id=session, tenant_id=tenant, message_id=first, text="hi"),
        ),
    )
    await post_reply(
        event_store,
        ctx(tenant),
        PostAssistantReply(session_id=session, tenant_id=tenant, message_id=reply, chunks=("Hel", "lo"), text="Hello"),
    )
    closed = await close_session(event_store, ctx(tenant), CloseSession(session_id=session, tenant_id=tenant))
    await request_tool(
        event_store,
        ctx(tenant),
        RequestTool(request_id=request, tool_name="search", arguments_json="{}", session_id=session),
    )
    await complete_tool(
        event_store, ctx(tenant), CompleteTool(request_id=request, result_json='{"n":1}', duration_ms=5)
    )
    await set_budget_limit(
        event_store, ctx(tenant), SetBudgetLimit(tenant_id=tenant, persona_id=None, daily_tokens=100)
    )
    await consume_tokens(
        event_store, ctx(tenant), ConsumeTokens(tenant_id=tenant, persona_id="helper", day=day, tokens=40)
    )
    await create_task(event_store, ctx(tenant), CreateDelegationTask(task_id=task, title="t", instructions="i"))
    await start_task(event_store, ctx(tenant), StartDelegationTask(task_id=task, worker="w1"))
    await complete_task(event_store, ctx(tenant), CompleteDelegationTask(task_id=task, result="done"))
    for mode in ("cloud", "local"):
        await set_model_profile(
            event_store,
            ctx(tenant),
            SetModelProfile(
                role=role,
                deployment_mode=mode,
                model="m1",
                base_url="http://llm",
                api_path="/v1/chat",
                temperature=0.2,
                extras={"k": "v"},
            ),
        )
    await remove_model_profile(event_store, ctx(tenant), RemoveModelProfile(role=role, deployment_mode="local"))
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)

    k = Keys(redis_prefix, "model_profiles")
    runners = await project(
        ["transcript", "sessions", "tools", "budgets", "delegation", "model_profiles"],
        codec,
        servers,
        redis_prefix,
        until=lambda _: (
            redis_client.hget(Keys(redis_prefix, "delegation")("task", task), "status") == "completed"
            and redis_client.hget(Keys(redis_prefix, "sessions")("session", session), "status") == "closed"
            # the close is on the inbound topic, the assistant's message on the outbound one: wait for both
            and redis_client.hget(Keys(redis_prefix, "sessions")("session", session), "messages") == "2"
            and redis_client.hget(Keys(redis_prefix, "budgets")("usage", tenant, "helper", day), "used") == "40"
            and redis_client.hget(Keys(redis_prefix, "tools")("execution", request), "status") == "completed"
            # the outcome (tool.results) may land before the request (tool.requests): wait for both
            and redis_client.hget(Keys(redis_prefix, "tools")("execution", request), "session_id") is not None
            and redis_client.zcard(Keys(redis_prefix, "transcript")("messages", session)) == 2
            and redis_client.hget(k("profile", role, "local"), "status") == "removed"
            and redis_client.hget(k("profile", role, "cloud"), "status") == "set"
        ),
    )

    assert sum(r.projector.dead_lettered for r in runners) == 0
    messages = await reads.messages(session)
    assert [(m["role"], m["text"], m["version"]) for m in messages] == [("user", "hi", 2), ("assistant", "Hello", 5)]
    assert await reads.reply_in_progress(session, reply) == ""  # chunks merged into the final text
    row = await reads.session(session) or {}
    times = {name: row.pop(name) for name in ("started_at", "last_activity", "closed_at")}
    assert row == {"tenant_id": tenant, "persona_id": "helper", "status": "closed", "messages": "2"}
    assert all(value.isdigit() for value in times.values())  # epoch milliseconds
    assert [sid for sid, _ in await reads.sessions(tenant)] == [str(session)]
    execution = await reads.tool_execution(request)
    assert execution is not None
    assert execution["status"] == "completed"
    assert (execution["result_json"], execution["session_id"]) == ('{"n":1}', str(session))
    assert await reads.tool_executions(session) == [str(request)]
    assert await reads.budget_usage(tenant) == [
        {"persona_id": "helper", "day": "2026-11-24", "used": 40, "limit": 100, "remaining": 60}
    ]
    assert (await reads.task(task) or {})["result"] == "done"
    assert await reads.tasks(tenant, "completed") == {str(task)}
    assert await reads.tasks(tenant, "running") == set()  # moved out of the earlier status
    assert await reads.model_profile(role, "cloud") == {
        "tenant_id": tenant,
        "status": "set",
        "model": "m1",
        "base_url": "http://llm",
        "api_path": "/v1/chat",
        "temperature": "0.2",
        "extras": '{"k": "v"}',
    }
    assert await reads.model_profile(role, "local") is None
    assert f"{role}:cloud" in await reads.model_profiles()
    assert f"{role}:local" not in await reads.model_profiles()

    live = await reads.live(session)
    assert sorted(data["version"] for _, _, data in live) == [2, 3, 4, 5, 6]  # two topics: their order may vary
    outbound = [(kind, data.get("text")) for _, kind, data in live if data.get("message_id") == str(reply)]
    assert outbound == [("chunk", "Hel"), ("chunk", "lo"), ("message", "Hello")]  # one topic: in order
    after_second = await reads.live(session, after=live[1][0])
    assert [entry for entry, _, _ in after_second] == [entry for entry, _, _ in live[2:]]  # resumable from an id

    await reads.wait_for("sessions", str(session), closed.position)  # read-your-writes: already there
    with pytest.raises(ViewBehind) as behind:
        await reads.wait_for("sessions", str(session), closed.position + 10**9, timeout=0.2)
    assert behind.value.applied == closed.position


def snapshot(client: redis.Redis, prefix: str, stream: uuid.UUID) -> dict:
    """Every key of one stream under the prefix (its view entries and its applied-versions bitmap)."""
    readers: dict[str, Callable[[bytes], object]] = {
        "hash": client.hgetall,
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "set": client.smembers,
        "string": client.get,
        "stream": lambda k: [fields for _, fields in client.xrange(k) or []],
    }
    found: dict[bytes, object] = {}
    for key in client.scan_iter(match=f"{prefix}*{stream}*"):
        kind = client.type(key)
        found[key] = readers[kind.decode() if isinstance(kind, bytes) else str(kind)](key)
    return found


async def test_redelivered_events_change_nothing(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, tenant
):
    session = await session_with_messages(event_store, tenant, 30)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    k = Keys(redis_prefix, "sessions")
    raw = redisconn.connect_sync(servers.redis_url)

    await project(
        ["sessions", "transcript"],
        codec,
        servers,
        redis_prefix,
        until=lambda _: (  # both views: the second run counts what each applied in this one as duplicates
            redis_client.hget(k("session", session), "messages") == "30"
            and redis_client.zcard(Keys(redis_prefix, "transcript")("messages", session)) == 30
        ),
    )
    before = snapshot(raw, redis_prefix, session)
    for view in ("sessions", "transcript"):
        redis_client.delete(Keys(redis_prefix, view)("offsets"))  # forget where the views were: all again

    runners = await project(
        ["sessions", "transcript"], codec, servers, redis_prefix, until=lambda rs: min(r.duplicates for r in rs) >= 31
    )

    assert snapshot(raw, redis_prefix, session) == before  # counts, transcript and live stream unchanged
    assert redis_client.hget(k("session", session), "messages") == "30"
    assert all(r.duplicates >= 31 for r in runners)


async def test_a_runner_stopped_mid_stream_resumes_without_loss_or_double_counting(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, reads, tenant
):
    session = await session_with_messages(event_store, tenant, 120)
    assert await publish(event_store, pg_schema.dsn, pg_schema.name, servers, only=50) == 50
    k = Keys(redis_prefix, "sessions")

    await project(
        ["sessions", "transcript"],
        codec,
        servers,
        redis_prefix,
        batch=7,
        until=lambda _: redis_client.hget(k("session", session), "messages") == "49",
    )
    partway = int(redis_client.hget(k("session", session), "messages") or 0)
    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    await project(
        ["sessions", "transcript"],
        codec,
        servers,
        redis_prefix,
        batch=7,
        until=lambda _: (
            redis_client.hget(k("session", session), "messages") == "120"
            and redis_client.zcard(Keys(redis_prefix, "transcript")("messages", session)) == 120
        ),
    )

    assert partway < 120  # it really stopped part way
    await asyncio.sleep(0.5)  # anything applied twice would show up now
    assert redis_client.hget(k("session", session), "messages") == "120"
    assert [m["text"] for m in await reads.messages(session, limit=500)] == [f"m{i}" for i in range(120)]
    assert len(await reads.live(session, count=1000)) == 120  # each update streamed once
