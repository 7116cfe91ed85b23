"""`agentlog db migrate` as an operator runs it."""

from __future__ import annotations

from eventstore.migrate import MIGRATIONS
from tests.support.cli import agentlog


def test_migrate_applies_each_migration_once(pg_schema):
    env = {"POSTGRES_DSN": pg_schema.dsn, "AGENTLOG_DB_SCHEMA": pg_schema.name}

    first = agentlog("db", "migrate", env=env)
    again = agentlog("db", "migrate", env=env)

    assert first.returncode == 0, first.stderr
    files = sorted(path.name for path in MIGRATIONS.glob("*.sql"))
    assert files[:3] == ["001_event_store.sql", "002_tenants.sql", "003_traceparent.sql"]
    assert f"applied {len(files)} migration(s) {' '.join(files)}" in first.stdout
    assert "applied 0 migration(s)" in again.stdout
    with pg_schema.connect() as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema.name,)
            )
        }
    assert {"events", "command_results", "snapshots", "relay_checkpoints", "schema_migrations"} <= tables
    assert {"tenants", "api_keys"} <= tables


def test_a_bad_schema_name_is_refused_naming_the_setting():
    done = agentlog("db", "migrate", env={"AGENTLOG_DB_SCHEMA": "Robert'); DROP TABLE events;--"})
    assert done.returncode == 2
    assert "AGENTLOG_DB_SCHEMA" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_one_line():
    done = agentlog("db", "migrate", env={"POSTGRES_DSN": "postgresql://postgres@127.0.0.1:9/agentlog"})
    assert done.returncode == 3
    assert "cannot reach Postgres" in done.stderr
    assert "Traceback" not in done.stderr
