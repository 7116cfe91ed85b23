"""The database's own limit: pgbench committing single-row inserts, the ceiling the append benchmark is held to."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from stack import install

SCHEMA = "bench_pgbench"
# one row a transaction, about the size of an encoded event (a user message: ~760 bytes of Avro)
_SCRIPT = f"""\\set id random(1, 1000000000)
INSERT INTO {SCHEMA}.rows (id, stream_id, payload) VALUES (:id, 'stream-' || :id, repeat('x', 760)::bytea);
"""
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)


def prepare(dsn: str) -> None:
    """A fresh table for the inserts, in its own schema."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.rows (id bigint, stream_id text, payload bytea)").format(sql.Identifier(SCHEMA))
        )


def commits_per_second(dsn: str, clients: int, seconds: int = 5) -> float:
    """Single-row insert transactions per second that pgbench commits with `clients` connections."""
    pgbench = install.require_binary("/usr/lib/postgresql/*/bin/pgbench", "postgresql")
    url = urlsplit(dsn)
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        Path(script.name).write_text(_SCRIPT)
        done = subprocess.run(
            [str(pgbench), "-n", "-f", script.name, "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
             "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
             url.path.lstrip("/")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    found = _TPS.search(done.stdout)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps: {done.stdout}{done.stderr}")
    return float(found.group(1))
