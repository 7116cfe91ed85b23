"""Versioned schema migrations: `migrations/NNN_name.sql`, each applied once, in order, atomically."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, Path]]:
    """Every migration file as (version, path), in version order."""
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} must be named NNN_snake_case.sql")
        found.append((int(match.group(1)), path))
    return found


def migrate(dsn: str, schema: str = "public") -> list[str]:
    """Apply the migrations `schema` lacks; returns the names applied.

    Each file runs in its own transaction together with its bookkeeping row, under an advisory
    lock, so concurrent callers (several processes starting at once) apply each file once.
    """
    applied_now = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz DEFAULT now())"
        )
        for version, path in available():
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
                done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone()
                if done:
                    continue
                conn.execute(path.read_text())  # our own migration files
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, path.name))
                applied_now.append(path.name)
    return applied_now
