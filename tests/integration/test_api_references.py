"""What a command points at over HTTP: callback targets, the sessions it names, and platform-wide resources."""

from __future__ import annotations

import uuid

import httpx
import pytest

from api.errors import PROBLEM_JSON
from api.settings import ApiSettings
from cli.provider import serve
from tests.support.api import another_api, recorded
from tests.support.cli import agentlog


def problem(response: httpx.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert body["field"] == field, body
    return body


def task(callback_url: str | None = None, parent: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"title": "t", "instructions": "do it"}
    return (
        body
        | ({"callback_url": callback_url} if callback_url else {})
        | ({"parent_session_id": parent} if parent else {})
    )


def session_of(client: httpx.Client, headers: dict[str, str]) -> str:
    posted = client.post("/v1/session/message", json={"message": "hi"}, headers=headers)
    assert posted.status_code == 202, posted.text
    return str(posted.json()["session_id"])


# callback targets ---------------------------------------------------------------------------------

INTERNAL = [
    "http://169.254.169.254/latest/meta-data",
    "http://127.0.0.1:8080/cb",
    "http://10.0.0.1/",
    "http://192.168.1.20/hook",
    "http://172.16.5.4/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/",
    "http://[::1]:9000/cb",
    "http://[fe80::1]/cb",
    "http://[::ffff:127.0.0.1]/cb",
    "http://2130706433/cb",  # 127.0.0.1 as one number
    "http://0x7f.1/cb",
    "http://localhost:9/cb",  # a name that resolves to loopback
    "http://224.0.0.1/cb",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_callback_to_a_loopback_private_or_link_local_address_is_422(api, client, url):
    tenant, headers = api.tenant()

    body = problem(client.post("/v1/delegation/tasks", json=task(url), headers=headers), 422, "callback_url")

    assert "AGENTLOG_API_CALLBACK_ALLOW_HOSTS" in body["detail"]  # the way out for a real internal receiver
    assert recorded(api, tenant) == 0


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/hook", "https://hooks.example/cb", "HTTPS://Hooks.Example/cb", "http://[2606:4700::1]/x"],
)
def test_a_callback_to_a_public_address_or_a_name_not_resolving_now_is_accepted(api, client, url):
    _, headers = api.tenant()

    created = client.post("/v1/delegation/tasks", json=task(url), headers=headers)

    assert created.status_code == 202, created.text


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://hooks.example/x", "file:///etc/passwd"])
def test_a_callback_must_be_http_or_https(api, client, url):
    _, headers = api.tenant()
    problem(client.post("/v1/delegation/tasks", json=task(url), headers=headers), 422, "callback_url")


def test_hosts_allow_listed_in_settings_may_receive_callbacks(api):
    settings = another_api(api, api_callback_allow_hosts=["127.0.0.1", "LocalHost"])
    tenant, headers = api.tenant()

    with serve(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
        allowed = [
            client.post("/v1/delegation/tasks", json=task(target), headers=headers)
            for target in ("http://127.0.0.1:8080/cb", "http://localhost:9/cb")
        ]
        refused = client.post("/v1/delegation/tasks", json=task("http://10.0.0.1/cb"), headers=headers)

    assert [a.status_code for a in allowed] == [202, 202], [a.text for a in allowed]
    problem(refused, 422, "callback_url")
    assert recorded(api, tenant) == 2


def test_the_allow_list_is_read_from_a_comma_separated_environment_variable(monkeypatch):
    monkeypatch.setenv("AGENTLOG_API_CALLBACK_ALLOW_HOSTS", " hooks.internal, 10.0.0.7 ,,[::1]")

    assert ApiSettings().api_callback_allow_hosts == ["hooks.internal", "10.0.0.7", "::1"]


# sessions a command refers to ---------------------------------------------------------------------


def test_a_tool_request_for_a_session_of_another_tenant_or_of_none_is_404_naming_the_field(api, client):
    tenant, headers = api.tenant()
    _, stranger = api.tenant()
    own, foreign = session_of(client, headers), session_of(client, stranger)
    path = "/v1/tools/search/invocations"

    for session in (foreign, str(uuid.uuid4())):
        body = problem(client.post(path, json={"session_id": session}, headers=headers), 404, "session_id")
        assert session in body["detail"]
    accepted = client.post(path, json={"session_id": own}, headers=headers)

    assert accepted.status_code == 202, accepted.text
    assert recorded(api, tenant) == 3  # the own session's two events and the one request


def test_a_task_for_a_parent_session_of_another_tenant_or_of_none_is_404_naming_the_field(api, client):
    tenant, headers = api.tenant()
    _, stranger = api.tenant()
    own, foreign = session_of(client, headers), session_of(client, stranger)

    for session in (foreign, str(uuid.uuid4())):
        refused = client.post("/v1/delegation/tasks", json=task(parent=session), headers=headers)
        problem(refused, 404, "parent_session_id")
    accepted = client.post("/v1/delegation/tasks", json=task(parent=own), headers=headers)

    assert accepted.status_code == 202, accepted.text
    assert recorded(api, tenant) == 3


def test_a_reference_to_a_task_or_a_tool_request_instead_of_a_session_is_404_naming_the_field(api, client):
    tenant, headers = api.tenant()
    created = client.post("/v1/delegation/tasks", json=task(), headers=headers)
    invoked = client.post("/v1/tools/search/invocations", json={}, headers=headers)
    others = [created.json()["task_id"], invoked.json()["request_id"]]

    for other in others:
        problem(
            client.post("/v1/tools/search/invocations", json={"session_id": other}, headers=headers), 404, "session_id"
        )
        refused = client.post("/v1/delegation/tasks", json=task(parent=other), headers=headers)
        problem(refused, 404, "parent_session_id")
    assert recorded(api, tenant) == 2


# platform-wide resources --------------------------------------------------------------------------

PROFILE = {"model": "m", "base_url": "https://llm.example", "api_path": "/v1/chat", "temperature": 0.2}


def test_a_tenants_admin_cannot_change_model_profiles_a_platform_admin_can(api, client):
    _, tenant_admin = api.tenant("admin")
    _, platform = api.tenant("platform-admin")
    path = f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud"

    for refused in (client.put(path, json=PROFILE, headers=tenant_admin), client.delete(path, headers=tenant_admin)):
        assert "'platform-admin' scope" in problem(refused, 403)["detail"]
    set_ = client.put(path, json=PROFILE, headers=platform)
    removed = client.delete(path, headers=platform)

    assert set_.status_code == 200, set_.text
    assert removed.status_code == 200, removed.text


def test_a_platform_admin_is_not_a_tenant_admin(api, client):
    tenant, platform = api.tenant("platform-admin")

    refused = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 5}, headers=platform)

    assert "'admin' scope" in problem(refused, 403)["detail"]


def test_the_cli_grants_the_platform_admin_scope(api, client):
    tenant = f"ops-{uuid.uuid4().hex[:8]}"
    env = {"POSTGRES_DSN": api.settings.postgres_dsn, "AGENTLOG_DB_SCHEMA": api.settings.db_schema}

    created = agentlog("tenants", "create", tenant, env=env)
    added = agentlog("tenants", "keys", "add", tenant, "--scope", "platform-admin", env=env)

    assert created.returncode == 0 and added.returncode == 0, (created.stderr, added.stderr)
    path = f"/v1/model-profiles/r{uuid.uuid4().hex[:8]}/cloud"
    answered = client.put(path, json=PROFILE, headers={"X-API-Key": added.stdout.strip()})
    assert answered.status_code == 200, answered.text
