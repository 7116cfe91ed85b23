"""`agentlog tenants create | keys add | keys revoke` as an operator runs them, against the running API."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from tests.support.api import RunningApi, eventually, store_db
from tests.support.cli import agentlog

KEY = re.compile(r"^alk_([a-z0-9]{12})_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def env(api: RunningApi) -> dict[str, str]:
    """The API's database and schema, as the CLI reads them."""
    return {"POSTGRES_DSN": api.settings.postgres_dsn, "AGENTLOG_DB_SCHEMA": api.settings.db_schema}


@pytest.fixture
def tenant_id() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The refusal: exit `code`, a single `error:` line on stderr naming `words`, no traceback, nothing on stdout."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert done.stdout == ""
    return lines[0]


def test_a_key_made_by_the_cli_authenticates_until_revoked(api, env, tenant_id):
    created = agentlog("tenants", "create", tenant_id, "--name", "Acme Corp", env=env)
    added = agentlog("tenants", "keys", "add", tenant_id, "--scope", "admin", "--label", "ci", env=env)

    assert created.returncode == 0, created.stderr
    assert f"created tenant {tenant_id}" in created.stdout
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    match = KEY.match(key)
    assert match, added.stdout  # stdout is the key alone, so `KEY=$(agentlog tenants keys add ...)` works
    key_id = match.group(1)
    assert key_id in added.stderr and "admin" in added.stderr and "not shown again" in added.stderr
    with api.client() as client:
        headers = {"X-API-Key": key}
        assert client.get("/v1/sessions", headers=headers).json() == {"items": [], "next_cursor": None}
        limits = client.put(f"/v1/budgets/{tenant_id}/limits", json={"daily_tokens": 10}, headers=headers)
        assert limits.status_code == 200, limits.text  # the admin scope took

        revoked = agentlog("tenants", "keys", "revoke", key_id, env=env)

        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked key {key_id} of {tenant_id}" in revoked.stdout
        eventually(lambda: client.get("/v1/sessions", headers=headers).status_code == 401, timeout=8.0, every=0.2)
    with store_db(api) as conn:
        row = conn.execute("SELECT secret_hash, label, scopes FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
    assert row is not None
    assert key.split("_", 2)[2].encode() not in bytes(row[0])  # only a hash is kept
    assert (row[1], row[2]) == ("ci", ["admin"])


def test_a_key_without_scopes_is_not_admin(api, env, tenant_id):
    assert agentlog("tenants", "create", tenant_id, env=env).returncode == 0

    added = agentlog("tenants", "keys", "add", tenant_id, env=env)

    assert added.returncode == 0, added.stderr
    assert "scopes: none" in added.stderr
    with api.client() as client:
        headers = {"X-API-Key": added.stdout.strip()}
        assert client.get("/v1/sessions", headers=headers).status_code == 200
        limits = client.put(f"/v1/budgets/{tenant_id}/limits", json={"daily_tokens": 10}, headers=headers)
        assert limits.status_code == 403, limits.text


def test_a_duplicate_tenant_is_one_line(env, tenant_id):
    assert agentlog("tenants", "create", tenant_id, env=env).returncode == 0

    again = agentlog("tenants", "create", tenant_id, env=env)

    one_line_error(again, 1, tenant_id, "already exists")


@pytest.mark.parametrize("bad", ["A", "Has Space", "_leading", "x" * 64, "[/red]x", "[bold]y", "newline-at-end\n"])
def test_a_bad_tenant_id_is_one_line_naming_it(env, bad):
    one_line_error(agentlog("tenants", "create", bad, env=env), 1, repr(bad), "use 2-63 of")


def test_a_key_for_an_unknown_tenant_is_one_line(env, tenant_id):
    one_line_error(agentlog("tenants", "keys", "add", tenant_id, env=env), 1, tenant_id, "agentlog tenants create")


def test_an_unknown_scope_is_one_line_naming_the_choices(env, tenant_id):
    assert agentlog("tenants", "create", tenant_id, env=env).returncode == 0

    refused = agentlog("tenants", "keys", "add", tenant_id, "--scope", "superuser", "--scope", "admin", env=env)

    one_line_error(refused, 1, "superuser", "choose from admin")


@pytest.mark.parametrize("key_id", ["000000000000", "nope", "[/red]"])
def test_revoking_an_unknown_key_is_one_line(env, key_id):
    one_line_error(agentlog("tenants", "keys", "revoke", key_id, env=env), 1, key_id, "no active key")


def test_revoking_twice_is_one_line(env, tenant_id):
    assert agentlog("tenants", "create", tenant_id, env=env).returncode == 0
    key = agentlog("tenants", "keys", "add", tenant_id, env=env).stdout.strip()
    key_id = key.split("_")[1]
    assert agentlog("tenants", "keys", "revoke", key_id, env=env).returncode == 0

    one_line_error(agentlog("tenants", "keys", "revoke", key_id, env=env), 1, key_id, "no active key")


def test_an_unmigrated_schema_is_one_line(pg_schema):
    env = {"POSTGRES_DSN": pg_schema.dsn, "AGENTLOG_DB_SCHEMA": pg_schema.name}
    for args in (("tenants", "create", "acme"), ("tenants", "keys", "add", "acme"), ("tenants", "keys", "revoke", "x")):
        one_line_error(agentlog(*args, env=env), 2, "agentlog db migrate")


def test_an_unreachable_database_is_one_line():
    env = {"POSTGRES_DSN": "postgresql://postgres@127.0.0.1:9/agentlog"}
    for args in (("tenants", "create", "acme"), ("tenants", "keys", "add", "acme"), ("tenants", "keys", "revoke", "x")):
        one_line_error(agentlog(*args, env=env), 3, "cannot reach Postgres", "POSTGRES_DSN")


def test_a_bad_schema_setting_is_one_line_naming_it():
    done = agentlog("tenants", "create", "acme", env={"AGENTLOG_DB_SCHEMA": "no-dashes; DROP"})
    one_line_error(done, 2, "AGENTLOG_DB_SCHEMA")
