"""Faults are normal: restart every server and SIGKILL every process while writers post through the API.

Afterwards every accepted message is in the store, every stored event is on Kafka exactly once and in
its stream's order, every read model equals a fold of the store, every user message has exactly one
reply (a calculation answered with its result, through the tool executor), and no answer was a 500.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid

import httpx
import pytest

from contracts.routing import Routing
from stack import Stack
from tests.support.cli import agentlog
from tests.support.faults import (
    Tally,
    check_kafka,
    head,
    read_models_mismatching,
    relay_has,
    replies_wrong,
    start_writers,
    stored_events,
    views_have,
    wait_for,
)
from tests.support.servers import mode

pytestmark = pytest.mark.skipif(mode() != "native", reason="injecting faults needs the native launcher")

FAULTS = [
    ("restart", "postgres"),
    ("restart", "redis"),
    ("restart", "kafka"),
    ("restart", "registry"),
    ("kill", "relay"),
    ("kill", "projections"),
    ("kill", "api"),
    ("kill", "conversation"),
    ("kill", "tools"),
    ("kill", "delegation"),
    ("restart", "postgres"),
    ("kill", "relay"),
    ("kill", "conversation"),
]
WRITERS = 6
PROCESSES = ("relay", "projections", "api", "conversation", "tools", "delegation")


def inject(stack: Stack, kind: str, name: str) -> None:
    if kind == "restart":
        stack.restart(name)  # returns once the server answers again
    else:
        pid = stack.server(name).pid()
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)  # the supervisor starts it again


def recovery(stack: Stack, tally: Tally, kind: str, name: str) -> dict[str, object]:
    """Inject one fault; how long writes went unanswered, and until the relay and the views held what
    was stored when the server was back (seconds from the fault)."""
    dsn, redis_url = stack.endpoints.postgres_dsn, stack.endpoints.redis_url
    answered = tally.statuses.copy()
    began = time.monotonic()
    inject(stack, kind, name)
    back = time.monotonic()
    wait_for(lambda: tally.accepted_at[-1] > back + 0.5, 90, f"writes accepted after {kind} {name}")
    position = head(dsn)
    wait_for(lambda: relay_has(dsn, position), 90, f"the relay publishing after {kind} {name}")
    relayed = time.monotonic()
    wait_for(lambda: views_have(redis_url, dsn, position), 90, f"the views catching up after {kind} {name}")
    return {
        "fault": f"{kind} {name}",
        "server_back_s": round(back - began, 2),
        "writes_unanswered_s": round(tally.longest_gap(began), 2),
        "relay_s": round(relayed - began, 2),
        "views_s": round(time.monotonic() - began, 2),
        "answers": {k: n for k, n in (tally.statuses - answered).items() if k != "202"},
    }


@pytest.mark.timeout(900)
def test_writes_through_the_api_survive_every_restart_and_kill_exactly_once(servers, report):
    stack = Stack()
    env = stack.endpoints.as_env()
    tenant = f"faults{uuid.uuid4().hex[:8]}"
    assert agentlog("tenants", "create", tenant, env=env).returncode == 0
    key = agentlog("tenants", "keys", "add", tenant, "--scope", "admin", env=env).stdout.strip().splitlines()[-1]
    url = f"http://127.0.0.1:{stack.settings.api_port}"
    limit = httpx.put(f"{url}/v1/budgets/{tenant}/limits", json={"daily_tokens": 10**9}, headers={"X-API-Key": key})
    assert limit.status_code == 200, limit.text  # the workers answer every message: no budget may run out
    restarts_before = {row.name: row.restarts or 0 for row in stack.status()}
    tally = Tally()
    began = time.monotonic()
    thread, loop, stop = start_writers(url, key, tally, WRITERS)
    try:
        wait_for(lambda: len(tally.accepted) >= 200, 60, "writes before the first fault")
        time.sleep(1)
        recoveries = [recovery(stack, tally, kind, name) for kind, name in FAULTS]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
    took = time.monotonic() - began

    dsn = stack.endpoints.postgres_dsn
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        sessions = set(tally.accepted.values())
        began_waiting = time.monotonic()
        with contextlib.suppress(AssertionError):  # reported below, with the other counts
            wait_for(lambda: not any(replies_wrong(client, s) for s in sessions), 240, "every message answered")
        answered = time.monotonic() - began_waiting
        unanswered = [problem for s in sessions for problem in replies_wrong(client, s)]
    final = head(dsn)
    wait_for(
        lambda: relay_has(dsn, final) and views_have(stack.endpoints.redis_url, dsn, final), 120, "the final catch-up"
    )
    stored = stored_events(dsn, tenant)
    stored_ids = {event_id for events in stored.values() for _, event_id in events}
    kafka = check_kafka(stack.endpoints.kafka_bootstrap_servers, Routing().topics(), stored)
    mismatching = read_models_mismatching(url, key, dsn, sessions)
    restarts_after = {row.name: row.restarts or 0 for row in stack.status()}

    report["faults"] = {
        "seconds": round(took, 1),
        "accepted": len(tally.accepted),
        "stored_events": len(stored_ids),
        "accepted_not_stored": len(set(tally.accepted) - stored_ids),
        "kafka_lost": kafka.lost,
        "kafka_duplicated": kafka.duplicated,
        "kafka_streams_reordered": kafka.reordered,
        "read_model_mismatches": len(mismatching),
        "replies_wrong": len(unanswered),
        "all_answered_after_s": round(answered, 1),
        "sessions": len(sessions),
        "streams": len(stored),
        "answers": dict(tally.statuses),
        "5xx_not_503": tally.server_errors,
        "recoveries": recoveries,
        "supervisor_restarts": {n: restarts_after[n] - restarts_before.get(n, 0) for n in PROCESSES},
    }
    (stack.settings.home / "faults-report.json").write_text(json.dumps(report["faults"], indent=1))
    assert set(tally.accepted) <= stored_ids, "an accepted message is not in the store"
    assert (kafka.lost, kafka.duplicated, kafka.reordered) == (0, 0, 0)
    assert mismatching == []
    assert unanswered == []
    assert tally.server_errors == 0, tally.statuses
    assert all(restarts_after[n] > restarts_before.get(n, 0) for n in PROCESSES)
