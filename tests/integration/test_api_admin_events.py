"""The event log for scripts over HTTP: a tenant's events in position order, paged and as NDJSON, only its own,
admin only; the typed client reads both."""

from __future__ import annotations

import json

from agentlog.client import Client
from agentlog.client.errors import Forbidden
from tests.support.api import store_db


def stored(api, tenant: str) -> list[tuple[int, str]]:
    """(position, event id) of the tenant's events, as the store holds them."""
    with store_db(api) as conn:
        rows = conn.execute("SELECT position, event_id::text FROM events WHERE tenant_id = %s ORDER BY position",
                            (tenant,)).fetchall()  # fmt: skip
    return [(int(p), str(e)) for p, e in rows]


def test_the_log_pages_through_the_tenants_own_events_in_position_order(api, client):
    tenant, headers = api.tenant("admin")
    _, others = api.tenant("admin")
    for who in (headers, others, headers):
        posted = client.post("/v1/session/message", json={"message": "hello"}, headers=who)
        assert posted.status_code == 202
        client.post(f"/v1/sessions/{posted.json()['session_id']}/close", json={}, headers=who)

    seen, cursor, pages = [], "0", 0
    while cursor is not None:
        page = client.get("/v1/admin/events", params={"after_position": cursor, "limit": 2}, headers=headers)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor, pages = page.json()["next_cursor"], pages + 1

    assert [(e["position"], e["event_id"]) for e in seen] == stored(api, tenant)
    assert pages == 4  # six events, two a page, and the page that says there is no more
    assert seen[0]["event_type"] == "agentlog.session.SessionStarted" and seen[0]["stream_type"] == "session"
    assert seen[1]["data"]["text"] == "hello" and seen[1]["stream_id"] == seen[0]["stream_id"]

    streamed = client.get("/v1/admin/events/stream", params={"after_position": seen[1]["position"]}, headers=headers)
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in streamed.text.splitlines()] == seen[2:]


def test_the_client_reads_the_log_both_ways_and_a_key_without_admin_is_refused(api):
    tenant, headers = api.tenant("admin")
    _, plain = api.tenant()
    with Client(api.url, api_key=headers["X-API-Key"]) as admin, Client(api.url, api_key=plain["X-API-Key"]) as user:
        admin.post_message("one")
        admin.post_message("two")
        paged = list(admin.iter_admin_events(page_size=1))
        streamed = list(admin.stream_admin_events())
        later = list(admin.stream_admin_events(after_position=paged[0].position))
        try:
            list(user.stream_admin_events())
        except Forbidden as refused:
            said = refused.detail
        else:
            raise AssertionError("a key without the admin scope read the log")
    assert [(e.position, str(e.event_id)) for e in paged] == stored(api, tenant)
    assert streamed == paged and later == paged[1:]
    assert "admin" in said
