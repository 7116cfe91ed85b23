"""Private Redis server from Debian's packages, append-only file on so data survives restarts."""

from __future__ import annotations

import redis as redis_client

from stack import install
from stack.server import Server


class Redis(Server):
    name = "redis"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def prepare(self) -> None:
        install.require_binary("/usr/bin/redis-server", "redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            "/usr/bin/redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--set-proc-title",
            "no",
        ]  # keep the data dir in the title: Server.pid checks it

    def _client(self) -> redis_client.Redis:
        return redis_client.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def healthy(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except redis_client.RedisError:
            return False

    def version(self) -> str:
        with self._client() as client:
            return str(client.info("server")["redis_version"])
