"""Traces across agentlog's own OS processes: each one's composition root sets tracing up, and a message's trace,
read back through GET /v1/traces/{id}, spans the API, relay, views, conversation worker and tool executor."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from api.tenants import Tenants
from cli.provider import drop_keys, drop_schema, free_port
from eventstore.migrate import migrate
from tests.conftest import registered_codec
from tests.support.api import eventually
from tests.support.conversation import wait_for_reply
from tests.support.processes import Processes, answers, until
from tests.support.tools import allowing, policy_folder

pytestmark = pytest.mark.e2e


async def _tenant(dsn: str, schema: str) -> tuple[str, str]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, server_settings={"search_path": schema})
    try:
        tenant = f"t{uuid.uuid4().hex[:10]}"
        await Tenants(pool).create(tenant)
        return tenant, (await Tenants(pool).add_key(tenant, []))[1]
    finally:
        await pool.close()


def roots(spans: list[dict]) -> list[str]:
    """The names of the spans whose parent is not among `spans`."""
    ids = {s["span_id"] for s in spans}
    return [s["name"] for s in spans if s["parent_span_id"] not in ids]


def test_a_message_is_one_trace_across_the_processes_read_back_as_a_waterfall(servers, registry, tmp_path):
    unique = uuid.uuid4().hex[:8]
    schema, prefix = f"traces_{unique}", f"traces:{unique}:"
    migrate(servers.postgres_dsn, schema)
    tenant, key = asyncio.run(_tenant(servers.postgres_dsn, schema))
    policies = policy_folder(tmp_path / "policies", **{tenant: allowing("calculator")})
    with registered_codec(servers, registry) as codec:
        env = {**servers.as_env(), "AGENTLOG_DB_SCHEMA": schema, "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
               "AGENTLOG_REDIS_PREFIX": prefix, "AGENTLOG_TRACING": "true", "OTEL_BSP_SCHEDULE_DELAY": "100",
               "AGENTLOG_PROJECTIONS_METRICS_PORT": "0"}  # fmt: skip
        processes, port = Processes(env, tmp_path), free_port()
        try:
            processes.start("relay", "relay")
            processes.ready("relay", "relay 'main':")
            processes.start("api", "api", AGENTLOG_API_PORT=str(port))
            processes.start("projections", "projections", "run")
            processes.start("conversation", "worker", "conversation")
            processes.start("tools", "worker", "tools", AGENTLOG_TOOLS_POLICY_DIR=str(policies))
            processes.ready("projections", "projections running")
            for name in ("conversation", "tools"):
                processes.ready(name, f"worker '{name}' running")
            url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": key}
            until(lambda: answers(f"{url}/health"), "the API answering")
            trace_id = uuid.uuid4().hex
            with httpx.Client(base_url=url, timeout=10) as client:
                sent = {**headers, "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
                posted = client.post("/v1/session/message", json={"message": "Calculate 2 + 2"}, headers=sent)
                assert posted.status_code == 202, posted.text
                [reply] = wait_for_reply(client, headers, posted.json()["session_id"], timeout=60)

                def waterfall() -> dict | None:
                    found = client.get(f"/v1/traces/{trace_id}", headers=headers)
                    body = found.json() if found.status_code == 200 else None
                    if not body or "tool.run calculator" not in {s["name"] for s in body["spans"]}:
                        return None
                    # spans arrive as they end, a parent maybe after its child: wait until they join up
                    return body if len(roots(body["spans"])) == 1 else None

                body = eventually(waterfall, timeout=30)
        finally:
            processes.stop_all()
            drop_schema(servers.postgres_dsn, schema)
            drop_keys(servers.redis_url, prefix)

    assert reply["text"] == "2 + 2 = 4"
    spans = body["spans"]
    services = {s["service"] for s in spans}
    assert {"agentlog-api", "agentlog-relay", "agentlog-projections", "agentlog-worker-conversation",
            "agentlog-worker-tools"} <= services  # fmt: skip
    assert roots(spans) == ["POST /v1/session/message"]  # the one root, a child of the caller's span
    assert {"eventstore.append", "relay.publish", "conversation.turn", "model.call", "policy.decide"} <= {
        s["name"] for s in spans
    }
