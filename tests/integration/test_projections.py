"""Projections on real Kafka and Redis, fed by the real write side: views, exactly-once, restarts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest
import redis
import redis.asyncio as aioredis
from confluent_kafka import Producer

from domain.budget.commands import ConsumeTokens, SetBudgetLimit
from domain.budget.service import consume_tokens, set_budget_limit
from domain.delegation.commands import CreateDelegationTask, StartDelegationTask
from domain.delegation.service import create_task, start_task
from domain.events import CommandContext
from domain.session.commands import CloseSession, PostAssistantReply, PostUserMessage, StartSession
from domain.session.service import StartWithMessage, close_session, post_reply, post_user, start_with_message
from domain.tool.commands import CompleteTool, RequestTool
from domain.tool.service import complete_tool, request_tool
from eventstore.relay import Relay
from eventstore.topics import ensure_topics
from projections.queries import ViewBehind, caught_up
from projections.runner import ProjectionRunner
from projections.views import VIEWS, Keys


def ctx(tenant: str) -> CommandContext:
    return CommandContext(tenant_id=tenant, correlation_id=uuid.uuid4(), occurred_at=datetime.now(UTC))


async def publish(event_store, pg_schema, servers) -> None:
    """Run the relay until every event of this test's store is on Kafka."""
    pool = await asyncpg.create_pool(
        pg_schema.dsn, min_size=1, max_size=2, server_settings={"search_path": pg_schema.name}
    )
    relay = Relay(pool, Producer(Relay.producer_config(servers.kafka_bootstrap_servers)))
    try:
        while await relay.publish_batch():
            pass
        assert relay.published == await event_store.pool.fetchval("SELECT count(*) FROM events")
    finally:
        await pool.close()


async def project(names, codec, servers, prefix: str, until, timeout: float = 30.0) -> list[ProjectionRunner]:
    """Run the named views until `until(runners)` holds (polled), then stop them."""
    runners = [
        ProjectionRunner(VIEWS[n], codec, servers.redis_url, servers.kafka_bootstrap_servers, prefix=prefix)
        for n in names
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    deadline = time.monotonic() + timeout
    try:
        while not until(runners):
            assert time.monotonic() < deadline, "the views did not catch up"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return runners


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def topics(servers, codec) -> None:
    ensure_topics(servers.kafka_bootstrap_servers, codec.routing.topics(), 3)


async def test_every_view_reflects_what_the_write_side_recorded(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, tenant
):
    session, request, task, day = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), date(2026, 11, 24)
    first, reply = uuid.uuid4(), uuid.uuid4()
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
    await publish(event_store, pg_schema, servers)

    k = {name: Keys(redis_prefix, name) for name in VIEWS}
    await project(
        ["transcript", "sessions", "tools", "budgets", "delegation"],
        codec,
        servers,
        redis_prefix,
        until=lambda _: (
            redis_client.hget(k["delegation"]("task", task), "status") == "running"
            and redis_client.hget(k["sessions"]("session", session), "status") == "closed"
            and redis_client.hget(k["budgets"]("usage", tenant, "helper", day.isoformat()), "used") == "40"
            and redis_client.hget(k["tools"]("execution", request), "status") == "completed"
            and redis_client.zcard(k["transcript"]("messages", session)) == 2
        ),
    )

    messages = [json.loads(m) for m in redis_client.zrange(k["transcript"]("messages", session), 0, -1)]
    assert [(m["role"], m["text"]) for m in messages] == [("user", "hi"), ("assistant", "Hello")]
    assert not redis_client.exists(k["transcript"]("chunks", session, reply))  # merged into the final text
    assert redis_client.hgetall(k["sessions"]("session", session)) | {
        "last_activity": "",
        "started_at": "",
        "closed_at": "",
        "_version": "",
    } == {
        "tenant_id": tenant,
        "persona_id": "helper",
        "status": "closed",
        "messages": "2",
        "last_activity": "",
        "started_at": "",
        "closed_at": "",
        "_version": "",
    }
    assert redis_client.zrange(k["sessions"]("by-tenant", tenant), 0, -1) == [str(session)]
    assert redis_client.hget(k["tools"]("execution", request), "result_json") == '{"n":1}'
    assert redis_client.zrange(k["tools"]("by-session", session), 0, -1) == [str(request)]
    assert redis_client.hgetall(k["budgets"]("usage", tenant, "helper", day.isoformat())) | {"_version": ""} == {
        "used": "40",
        "limit": "100",
        "remaining": "60",
        "_version": "",
    }
    live = redis_client.xrange(k["transcript"]("live", session))
    entries = sorted((json.loads(fields["data"])["version"], fields["kind"]) for _, fields in live)
    assert entries == [(2, "message"), (3, "chunk"), (4, "chunk"), (5, "message"), (6, "closed")]
    reply_entries = [json.loads(f["data"]) for _, f in live if json.loads(f["data"]).get("message_id") == str(reply)]
    assert [e.get("text") for e in reply_entries] == ["Hel", "lo", "Hello"]  # one topic: chunks, then the reply
    async_client = aioredis.Redis.from_url(servers.redis_url)
    await caught_up(async_client, k["sessions"], str(session), closed.position)  # read-your-writes: already there
    with pytest.raises(ViewBehind) as behind:
        await caught_up(async_client, k["sessions"], str(session), closed.position + 10**9, timeout=0.2)
    assert behind.value.applied == closed.position
    await async_client.aclose()
    assert str(task) in redis_client.smembers(k["delegation"]("status", "running"))
    assert str(task) not in redis_client.smembers(k["delegation"]("status", "queued"))


def snapshot(client: redis.Redis, prefix: str, stream: uuid.UUID) -> dict[bytes, object]:
    """Every key of one stream under the prefix (its view entries and its applied-versions bitmap)."""
    found: dict[bytes, object] = {}
    for key in client.scan_iter(match=f"{prefix}*{stream}*"):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        found[key] = {
            "hash": client.hgetall,
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            "set": client.smembers,
            "string": client.get,
        }[kind](key)
    return found


async def test_redelivered_events_change_nothing_and_a_restart_resumes(
    event_store, pg_schema, servers, codec, topics, redis_prefix, redis_client, tenant
):
    session = uuid.uuid4()
    await start_with_message(
        event_store,
        ctx(tenant),
        StartWithMessage(
            start=StartSession(session_id=session, tenant_id=tenant),
            message=PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text="m0"),
        ),
    )
    for i in range(1, 30):
        await post_user(
            event_store,
            ctx(tenant),
            PostUserMessage(session_id=session, tenant_id=tenant, message_id=uuid.uuid4(), text=f"m{i}"),
        )
    await publish(event_store, pg_schema, servers)
    k = Keys(redis_prefix, "sessions")
    raw = redis.Redis.from_url(servers.redis_url)

    await project(
        ["sessions"],
        codec,
        servers,
        redis_prefix,
        until=lambda _: redis_client.hget(k("session", session), "messages") == "30",
    )
    before = snapshot(raw, redis_prefix, session)
    redis_client.delete(k("offsets"))  # forget where the view was: every event is delivered again

    [again] = await project(["sessions"], codec, servers, redis_prefix, until=lambda rs: rs[0].duplicates >= 30)

    assert snapshot(raw, redis_prefix, session) == before
    assert redis_client.hget(k("session", session), "messages") == "30"
    assert again.duplicates >= 30
