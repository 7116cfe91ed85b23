"""The operations page's data over HTTP (platform-admin): dead letters per view and their replay, the supervisor's
processes with restarts; the typed client reads them; the restart metrics come from the same state file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from agentlog.client import AsyncClient, Client
from agentlog.client.errors import Forbidden, NotFound
from cli.provider import serve
from contracts.routing import INBOUND
from projections.views import VIEWS, Keys
from stack import StackSettings, supervision
from stack.apps import AppProcess
from stack.supervisor import Backoff, Supervisor
from tests.conftest import registered_codec
from tests.support.api import RunningApi, another_api, eventually, running_api


@pytest.fixture(scope="module")
def own_api(servers, registry) -> Iterator[RunningApi]:
    """An API on topics of its own: its dead-letter topics hold this module's letters only."""
    with registered_codec(servers, registry) as codec, running_api(servers, codec) as api:
        yield api


def pending(client: Client, view: str) -> int:
    return client.list_dead_letters(view=view).items[0].pending


def test_dead_letters_are_listed_per_view_and_replayed_once_their_cause_is_fixed(own_api, servers):
    tenant, key = own_api.tenant("platform-admin")
    keys = Keys(own_api.settings.redis_prefix, "sessions")
    blocked_key = keys("by-tenant", tenant)
    store = redis.Redis.from_url(servers.redis_url)
    store.set(blocked_key, "someone else's value")  # the sessions view cannot fold this tenant's sessions
    prefix = own_api.settings.topic_prefix
    producer = Producer({"bootstrap.servers": servers.kafka_bootstrap_servers})
    producer.produce(prefix + INBOUND, key=b"junk", value=b"not avro at all")
    producer.flush(10)
    with Client(own_api.url, api_key=key["X-API-Key"]) as client:
        assert {item.view for item in client.list_dead_letters().items} == set(VIEWS)
        posted = client.post_message("hello")
        eventually(lambda: pending(client, "sessions") == 3, timeout=30)

        [sessions] = client.list_dead_letters(view="sessions", limit=10).items
        by_type = {letter.event_type: letter for letter in sessions.letters}
        assert set(by_type) == {"?", "agentlog.session.SessionStarted", "agentlog.session.MessagePosted"}
        assert "UndecodableRecord" in by_type["?"].error and by_type["?"].source.startswith(prefix + INBOUND + ":")
        assert blocked_key in by_type["agentlog.session.MessagePosted"].error
        assert by_type["agentlog.session.MessagePosted"].position > 0 and by_type["?"].attempts >= 2
        assert len(client.list_dead_letters(view="sessions", limit=1).items[0].letters) == 1

        store.delete(blocked_key)  # the cause is fixed
        done = client.replay_dead_letters("sessions")
        assert (done.view, done.read, done.applied, done.already_applied, done.failed_again) == ("sessions", 3, 2, 0, 1)
        assert store.hget(keys("session", posted.session_id), "messages") == b"1"
        assert store.zscore(blocked_key, str(posted.session_id)) is not None
        [left] = client.list_dead_letters(view="sessions").items[0].letters
        assert left.event_type == "?"  # only the junk: it failed again and is listed once more


def test_an_unknown_view_is_a_404_naming_the_views_and_a_tenant_admin_is_refused(own_api):
    _, key = own_api.tenant("platform-admin")
    _, tenant_admin = own_api.tenant("admin")
    with own_api.client() as http:
        unknown = http.post("/v1/admin/dead-letters/nope/replay", headers=key)
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["field"] == "view" and all(view in unknown.json()["detail"] for view in VIEWS)
        bad_query = http.get("/v1/admin/dead-letters", params={"view": "nope"}, headers=key)
        assert bad_query.status_code == 422 and bad_query.json()["field"] == "view"
        for path in ("/v1/admin/dead-letters", "/v1/admin/processes"):
            assert http.get(path, headers=tenant_admin).status_code == 403
    with Client(own_api.url, api_key=tenant_admin["X-API-Key"]) as client, pytest.raises(Forbidden):
        client.replay_dead_letters("sessions")
    with Client(own_api.url, api_key=key["X-API-Key"]) as client, pytest.raises(NotFound):
        client.replay_dead_letters("nope")


def test_without_a_supervisor_state_file_the_processes_are_an_empty_list_with_a_note(own_api):
    _, key = own_api.tenant("platform-admin")
    with Client(own_api.url, api_key=key["X-API-Key"]) as client:
        listed = client.list_processes()
    assert listed.items == [] and "AGENTLOG_API_SUPERVISOR_STATE" in (listed.note or "")


class Toy(AppProcess):
    """A small real process under a real supervisor."""

    name = "toy"
    ready_text = "toy ready"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import time; print('toy ready', flush=True); time.sleep(120)"]


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[StackSettings, Toy]]:
    settings = StackSettings(home=tmp_path / "home", cache=tmp_path / "cache")
    toy, stop = Toy(settings), threading.Event()
    thread = threading.Thread(target=Supervisor(settings, [toy], poll=0.05, backoff=lambda: Backoff(base=0.1)).run,
                              args=(stop,))  # fmt: skip
    thread.start()
    try:
        yield settings, toy
    finally:
        stop.set()
        thread.join(10)
        toy.stop()


async def test_the_supervisors_processes_show_their_restarts_and_last_exit(own_api, supervised):
    settings, toy = supervised
    eventually(lambda: toy.pid() is not None and toy.healthy(), timeout=20)
    with serve(another_api(own_api, api_supervisor_state=supervision.path(settings))) as url:
        _, key = own_api.tenant("platform-admin")
        async with AsyncClient(url, api_key=key["X-API-Key"]) as client:
            [first] = (await client.list_processes()).items
            assert (first.name, first.state, first.restarts, first.pid) == ("toy", "running", 0, toy.pid())
            killed = toy.pid()
            os.kill(killed or 0, signal.SIGKILL)
            listed = await _once_running_again(client, killed)
            [again] = listed.items
            assert (again.state, again.restarts, again.last_exit) == ("running", 1, -signal.SIGKILL)
            assert listed.supervisor_pid == os.getpid() and listed.updated
            metrics = await client.metrics()
    assert 'agentlog_process_restarts{process="toy"} 1.0' in metrics
    assert 'agentlog_process_up{process="toy"} 1.0' in metrics


async def _once_running_again(client: AsyncClient, killed: int | None):
    """The listing once the supervisor has the killed process back up: in between it truthfully says `restarting`."""
    deadline = time.monotonic() + 20
    while True:
        listed = await client.list_processes()
        [process] = listed.items
        if process.state == "running" and process.pid not in (None, killed):
            return listed
        assert time.monotonic() < deadline, f"still {process.state} (pid {process.pid}) 20 s after the kill"
        await asyncio.sleep(0.05)
