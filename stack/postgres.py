"""Private PostgreSQL cluster from Debian's packages, run as the `postgres` user when we are root."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psycopg

from eventstore.migrate import migrate
from stack import install, process
from stack.errors import StackError
from stack.server import Server

REGISTRY_DATABASE = "apicurio"


class Postgres(Server):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then stop cleanly
    user = "postgres" if os.geteuid() == 0 else None

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    def _bin(self, tool: str) -> Path:
        return install.require_binary("/usr/lib/postgresql/*/bin/postgres", "postgresql").parent / tool

    def prepare(self) -> None:
        self._bin("postgres")  # installs postgresql when it is missing
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            self._hand_over()
        if not (self.data_dir / "PG_VERSION").exists():
            done = subprocess.run(
                [
                    str(self._bin("initdb")),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                user=self.user,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise StackError(
                    f"initdb failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}",
                    f"remove {self.data_dir} and retry",
                )

    def _hand_over(self) -> None:
        """Make the data folder the postgres user's, and check that user can reach it."""
        process.chown(self.data_dir, "postgres")
        self.data_dir.chmod(0o700)
        reach = subprocess.run(["test", "-w", str(self.data_dir)], user="postgres", check=False)
        if reach.returncode != 0:
            raise StackError(
                f"the postgres user cannot reach {self.data_dir} (a parent folder is not world-searchable)",
                "chmod o+x the parent folders or set AGENTLOG_HOME to a folder it can reach",
            )

    def command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "300",
            "shared_buffers": "256MB",
            "logging_collector": "off",
        }
        flags = [f"--{key}={value}" for key, value in settings.items()]
        return [str(self._bin("postgres")), "-D", str(self.data_dir), *flags]

    def _connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def healthy(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def version(self) -> str:
        with self._connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"

    def after_ready(self) -> None:
        with self._connect() as conn:
            for db in (self.settings.database, REGISTRY_DATABASE):
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{db}"')
        migrate(self.settings.endpoints().postgres_dsn)  # the event store's schema, kept current
