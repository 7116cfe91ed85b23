"""`agentlog worker delegation` as its own OS process beside `agentlog api`, `relay` and `projections run`:
a task posted through the API ends, and a loopback receiver gets its outcome, signed."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.api import free_port
from tests.support.cli import AGENTLOG, agentlog, child_env
from tests.support.webhooks import Receiver
from workers.delegation.settings import new_secret


def until(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    """The first truthy answer of `check`, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


class Processes:
    """Child `agentlog` processes of one test, each stopped with SIGTERM (then killed) at the end.

    Their output goes to files: a pipe nobody reads fills up and stops a chatty process mid-write.
    """

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        with (self.logs / f"{name}.out").open("w") as out, (self.logs / f"{name}.err").open("w") as err:
            child = subprocess.Popen(
                [str(AGENTLOG), *args], env=child_env({**self.env, **extra}), stdout=out, stderr=err, text=True
            )
        self.children[name] = child
        return child

    def stop(self, name: str) -> tuple[int, str, str]:
        child = self.children.pop(name)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
        out, err = ((self.logs / f"{name}.{kind}").read_text() for kind in ("out", "err"))
        return child.returncode, out, err

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)


@pytest.fixture
def system(servers, pg_schema, own_codec, redis_prefix, tmp_path) -> Iterator[tuple[Processes, dict[str, str]]]:
    """A migrated schema with a tenant and its API key, and the environment of this test's processes."""
    env = {
        **servers.as_env(),
        "AGENTLOG_DB_SCHEMA": pg_schema.name,
        "AGENTLOG_TOPIC_PREFIX": own_codec.routing.prefix,
        "AGENTLOG_REDIS_PREFIX": redis_prefix,
    }
    assert agentlog("db", "migrate", env=env).returncode == 0
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    assert agentlog("tenants", "create", tenant, env=env).returncode == 0
    added = agentlog("tenants", "keys", "add", tenant, env=env)
    assert added.returncode == 0, added.stderr
    processes = Processes(env, tmp_path)
    yield processes, {"X-API-Key": added.stdout.strip()}
    processes.stop_all()


def test_a_task_ended_through_the_api_reaches_its_receiver_signed_and_shows_delivered(system):
    processes, key = system
    secret = new_secret()
    port = free_port()
    api = f"http://127.0.0.1:{port}/v1"
    with Receiver() as receiver:
        processes.start("api", "api", AGENTLOG_API_PORT=str(port), AGENTLOG_API_CALLBACK_ALLOW_HOSTS="127.0.0.1")
        processes.start("relay", "relay")
        processes.start("projections", "projections", "run", "delegation", AGENTLOG_PROJECTIONS_METRICS_PORT="0")
        worker = processes.start(
            "worker",
            "worker",
            "delegation",
            AGENTLOG_WORKER_CALLBACK_SECRET=secret,
            AGENTLOG_WORKER_CALLBACK_ALLOW_HOSTS="127.0.0.1",
        )
        until(lambda: _answers(f"http://127.0.0.1:{port}/health"), "the API answering")

        created = httpx.post(
            f"{api}/delegation/tasks",
            json={"title": "Q3 summary", "instructions": "three bullets", "callback_url": receiver.url},
            headers=key,
        )
        assert created.status_code == 202, created.text
        task = created.json()["task_id"]
        assert httpx.post(f"{api}/delegation/tasks/{task}/start", json={"worker": "w-1"}, headers=key).is_success
        done = httpx.post(f"{api}/delegation/tasks/{task}/complete", json={"result": "- up 4%"}, headers=key)
        assert done.status_code == 202, done.text

        until(lambda: receiver.received, "the callback", timeout=90)
        [request] = receiver.received
        body = Webhook(secret).verify(request.body, request.headers)
        assert (body["data"]["task_id"], body["data"]["status"], body["data"]["result"]) == (
            task,
            "completed",
            "- up 4%",
        )

        def delivered() -> dict | None:
            row = httpx.get(f"{api}/delegation/tasks/{task}", headers=key).json()
            return row if row.get("callback_delivered") else None

        row = until(delivered, "the task showing its callback delivered")
        assert row["callback_status_code"] == 204  # type: ignore[index]
        assert worker.poll() is None

    code, out, err = processes.stop("worker")
    assert code == 0, err
    assert "worker 'delegation' running on" in out
    assert "worker 'delegation' stopped after handling" in out


def test_the_worker_does_not_start_without_a_signing_secret(servers, own_codec):
    env = {**servers.as_env(), "AGENTLOG_TOPIC_PREFIX": own_codec.routing.prefix}

    result = agentlog("worker", "delegation", env=env, timeout=60)

    assert result.returncode == 2
    assert "AGENTLOG_WORKER_CALLBACK_SECRET" in result.stderr or "worker_callback_secret" in result.stderr


def test_callback_secret_prints_a_secret_the_worker_accepts():
    made = agentlog("worker", "callback-secret")

    assert made.returncode == 0
    secret = made.stdout.strip()
    assert secret.startswith("whsec_")
    Webhook(secret)  # the receiver's library reads it too


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.TransportError:
        return False
