"""Freshness against the store head: a relay that is alive but not publishing is degraded, not healthy."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from api.scrape import MEASURED_FOR
from cli.provider import serve
from stack import freshness
from stack.config import Endpoints
from tests.support.api import another_api
from tests.support.projections import publish, session_with_messages


async def test_a_relay_that_leaves_old_events_behind_is_degraded_until_it_publishes_them(
    event_store, pg_schema, servers
):
    await session_with_messages(event_store, f"t{uuid.uuid4().hex[:6]}", 3)
    # the events have waited a minute: as if the relay had been stuck that long
    await event_store.pool.execute("UPDATE events SET recorded_at = now() - interval '1 minute'")
    schema_dsn = f"{pg_schema.dsn}?search_path={pg_schema.name}"
    endpoints = Endpoints(schema_dsn, servers.redis_url, servers.kafka_bootstrap_servers, servers.schema_registry_url)

    health, detail = await asyncio.to_thread(freshness.relay, endpoints)  # stack status is sync code
    assert health == "degraded"
    assert detail.startswith("4 events, 6") and detail.endswith("s behind the store")

    await publish(event_store, pg_schema.dsn, pg_schema.name, servers)
    assert await asyncio.to_thread(freshness.relay, endpoints) == ("healthy", "0 events, 0.0 s behind the store")

    # only what follows the relay's checkpoint counts, and the age is that of the oldest of it
    await session_with_messages(event_store, f"t{uuid.uuid4().hex[:6]}", 1)
    await event_store.pool.execute("UPDATE events SET recorded_at = now() - interval '2 minutes' WHERE version = 2")
    health, detail = await asyncio.to_thread(freshness.relay, endpoints)
    assert health == "degraded" and detail.startswith("2 events, 12"), detail


def test_a_relay_whose_store_cannot_be_reached_is_degraded_saying_why(servers, unique):
    closed = Endpoints("postgresql://postgres@127.0.0.1:1/none", servers.redis_url, "127.0.0.1:1", "http://127.0.0.1:1")
    health, detail = freshness.relay(closed)
    assert health == "degraded" and detail.startswith("cannot measure its progress")


def test_health_reports_the_relay_and_every_view_against_the_store(api):
    with api.client() as client:
        health = client.get("/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] in ("ok", "degraded")
    assert {"relay", "view:sessions", "view:transcript"} <= set(body["freshness"])
    assert body["freshness"]["relay"]["status"] == "ok"
    assert all(f["events_behind"] >= 0 and f["seconds_behind"] >= 0 for f in body["freshness"].values())


async def test_health_checks_close_together_share_one_measurement_and_a_later_one_measures_again(
    api, event_store, pg_schema
):
    await session_with_messages(event_store, f"t{uuid.uuid4().hex[:6]}", 3)
    await event_store.pool.execute("UPDATE events SET recorded_at = now() - interval '1 minute'")  # no relay here
    with serve(another_api(api, db_schema=pg_schema.name)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            together = await asyncio.gather(*(client.get("/health") for _ in range(6)))
            await asyncio.sleep(MEASURED_FOR + 0.2)
            later = await client.get("/health")

    ages = {response.json()["freshness"]["relay"]["seconds_behind"] for response in together}
    assert len(ages) == 1, ages  # one measurement answered all six (a load balancer's probes cost one)
    assert later.json()["freshness"]["relay"]["seconds_behind"] > ages.pop()  # measured again: the events aged
