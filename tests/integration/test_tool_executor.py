"""The tool executor on the real servers: each request on tool.requests gets policy's decision and exactly one
outcome (completed, failed, timed out or denied), correlated by request id, however often it is delivered."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from contracts.routing import TOOL_REQUESTS
from domain.tool.commands import RequestTool
from domain.tool.events import ToolAllowed, ToolCompleted, ToolDenied, ToolFailed, ToolRequested
from domain.tool.service import request_tool
from tests.support.projections import ctx, publish
from tests.support.tools import Sleep, allowing, executor, policy_folder, run_until
from workers.runtime import Worker


async def request(store, tenant: str, tool: str, timeout_ms: int = 10_000, **arguments) -> uuid.UUID:
    request_id = uuid.uuid4()
    command = RequestTool(request_id=request_id, tool_name=tool, arguments_json=json.dumps(arguments),
                          timeout_ms=timeout_ms)  # fmt: skip
    await request_tool(store, ctx(tenant), command)
    return request_id


async def history(store, request_id: uuid.UUID) -> list:
    return [r.event for r in await store.read_stream(str(request_id))]


def ended(store, *request_ids: uuid.UUID):
    async def check() -> bool:
        for rid in request_ids:
            if not any(isinstance(e, ToolCompleted | ToolFailed | ToolDenied) for e in await history(store, rid)):
                return False
        return True

    return check


@pytest.fixture
def run(own_store, own_codec, servers, pg_schema):
    """Relay what the store holds, then run a worker with `handle` until every request named has its outcome."""

    async def run(handle, *request_ids: uuid.UUID, publish_first: bool = True, timeout: float = 30.0) -> None:
        if publish_first:
            await publish(own_store, pg_schema.dsn, pg_schema.name, servers)
        worker = Worker(f"tools-{uuid.uuid4().hex[:6]}", [TOOL_REQUESTS], own_codec,
                        servers.kafka_bootstrap_servers, handle)  # fmt: skip
        await run_until(worker, ended(own_store, *request_ids), timeout)

    return run


async def test_a_calculator_request_is_allowed_then_completed_with_the_exact_result(own_store, tenant, tmp_path, run):
    four = await request(own_store, tenant, "calculator", expression="2 + 2")
    tenth = await request(own_store, tenant, "calculator", expression="0.1 + 0.2")
    third = await request(own_store, tenant, "calculator", expression="1 / 3")

    await run(executor(own_store, policy_folder(tmp_path)).handle, four, tenth, third)

    requested, allowed, completed = await history(own_store, four)
    assert isinstance(requested, ToolRequested)
    assert allowed == ToolAllowed(
        request_id=four,
        tool_name="calculator",
        reason="calculator is a built-in tool, allowed for every tenant",
        policy="rego:default.rego",
    )
    assert isinstance(completed, ToolCompleted)
    assert json.loads(completed.result_json)["result"] == "4"
    assert json.loads((await history(own_store, tenth))[-1].result_json)["result"] == "0.3"
    assert json.loads((await history(own_store, third))[-1].result_json)["fraction"] == "1/3"
    [cause] = [r for r in await own_store.read_stream(str(four)) if isinstance(r.event, ToolRequested)]
    [effect] = [r for r in await own_store.read_stream(str(four)) if isinstance(r.event, ToolCompleted)]
    assert (effect.meta.causation_id, effect.meta.correlation_id) == (cause.meta.event_id, cause.meta.correlation_id)


async def test_a_denied_tool_ends_denied_with_the_policys_reason(own_store, tenant, tmp_path, run):
    folder = policy_folder(tmp_path, **{tenant: allowing("echo")})
    shell = await request(own_store, tenant, "shell", command="rm -rf /")
    calc = await request(own_store, tenant, "calculator", expression="1 + 1")

    await run(executor(own_store, folder).handle, shell, calc)

    assert (await history(own_store, shell))[1:] == [
        ToolDenied(
            request_id=shell, tool_name="shell", reason="not listed for this tenant", policy=f"rego:{tenant}.rego"
        )
    ]
    assert [type(e) for e in await history(own_store, calc)] == [ToolRequested, ToolDenied]


async def test_a_broken_policy_denies_unless_the_tenant_is_fail_open(own_store, tenant, tmp_path, run):
    folder = policy_folder(tmp_path, **{tenant: "package agentlog.tools\ndecision := {{"})
    closed = await request(own_store, tenant, "echo", text="hi")
    await run(executor(own_store, folder).handle, closed)
    [denied] = (await history(own_store, closed))[1:]
    assert isinstance(denied, ToolDenied)
    assert (denied.policy, "does not compile" in denied.reason) == ("fail-closed", True)

    opened = await request(own_store, tenant, "echo", text="hi")
    await run(executor(own_store, folder, fail_open=(tenant,)).handle, opened)
    allowed, completed = (await history(own_store, opened))[1:]
    assert isinstance(allowed, ToolAllowed)
    assert allowed.policy == "fail-open"
    assert isinstance(completed, ToolCompleted)
    assert json.loads(completed.result_json) == {"text": "hi"}


async def test_a_run_past_its_timeout_fails_as_timed_out_within_the_timeout(own_store, tenant, tmp_path, run):
    folder = policy_folder(tmp_path, **{tenant: allowing("sleep", "nonesuch", "calculator")})
    slow = await request(own_store, tenant, "sleep", timeout_ms=300, seconds=30)
    unknown = await request(own_store, tenant, "nonesuch")
    bad = await request(own_store, tenant, "calculator", expression="1 / 0")

    began = time.monotonic()
    await run(executor(own_store, folder, extra=[Sleep()]).handle, slow, unknown, bad)

    [timed_out] = (await history(own_store, slow))[2:]
    assert isinstance(timed_out, ToolFailed)
    assert (timed_out.timed_out, timed_out.error) == (True, "timed out after 300 ms")
    assert 300 <= timed_out.duration_ms < 1000
    assert time.monotonic() - began < 15
    missing = (await history(own_store, unknown))[-1]
    assert isinstance(missing, ToolFailed)
    assert "no tool named 'nonesuch'" in missing.error and not missing.timed_out
    failed = (await history(own_store, bad))[-1]
    assert isinstance(failed, ToolFailed)
    assert failed.error == "division by zero"


async def test_a_redelivered_request_records_nothing_twice(own_store, tenant, tmp_path, run):
    folder = policy_folder(tmp_path)
    once = [await request(own_store, tenant, "calculator", expression=f"{i} * 3") for i in range(5)]
    await run(executor(own_store, folder).handle, *once)
    first = {rid: await history(own_store, rid) for rid in once}

    await run(executor(own_store, folder).handle, *once)  # a new consumer group: every request delivered again
    raced = [await request(own_store, tenant, "calculator", expression=f"{i} + 3") for i in range(5)]
    await asyncio.gather(  # two executors at once, each given every request
        run(executor(own_store, folder).handle, *raced, publish_first=True),
        run(executor(own_store, folder).handle, *raced, publish_first=False),
    )

    assert {rid: await history(own_store, rid) for rid in once} == first
    for rid in [*once, *raced]:
        assert [type(e) for e in await history(own_store, rid)] == [ToolRequested, ToolAllowed, ToolCompleted], rid


async def test_at_most_n_tools_run_at_once(own_store, tenant, tmp_path, run):
    folder = policy_folder(tmp_path, **{tenant: allowing("sleep")})
    sleep = Sleep()
    requests = [await request(own_store, tenant, "sleep", seconds=0.3) for _ in range(6)]

    await run(executor(own_store, folder, max_concurrent=2, extra=[sleep]).handle, *requests)

    assert sleep.peak == 2
    for rid in requests:
        assert isinstance((await history(own_store, rid))[-1], ToolCompleted)
