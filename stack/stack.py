"""The whole local stack: start in dependency order, report status, stop what we started."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from stack.apps import ApiProcess, ProjectionsProcess, RelayProcess
from stack.config import Endpoints, StackSettings
from stack.errors import StackError
from stack.kafka import Kafka
from stack.postgres import Postgres
from stack.redis import Redis
from stack.registry import Registry
from stack.server import Server, ServerStatus

Progress = Callable[[str], None]


class Stack:
    """Postgres, Redis, Kafka and the schema registry as private processes under settings.home."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.servers: dict[str, Server] = {
            server.name: server
            for server in (
                Postgres(self.settings),
                Redis(self.settings),
                Kafka(self.settings),
                Registry(self.settings),
                RelayProcess(self.settings),
                ProjectionsProcess(self.settings),
                ApiProcess(self.settings),
            )
        }

    @property
    def endpoints(self) -> Endpoints:
        return self.settings.endpoints()

    def server(self, name: str) -> Server:
        try:
            return self.servers[name]
        except KeyError:
            raise StackError(f"unknown server {name!r}", f"choose one of {', '.join(self.servers)}") from None

    def up(self, progress: Progress = lambda _: None) -> list[str]:
        """Start every server not already running and wait until all are healthy.

        Idempotent: running servers are reused. Returns the names of the servers it started.
        If any server fails, the ones this call started are stopped again before the error
        propagates, so a failed `up` leaves no process behind. Postgres comes first because the
        registry stores its schemas there; the others start side by side for a short warm start.
        """
        self.settings.home.mkdir(parents=True, exist_ok=True)
        started: list[str] = []
        try:
            for phase in self._phases():
                for server in phase:
                    self._launch(server, started, progress)
                for server in phase:
                    server.wait_ready()
                    progress(f"{server.name} ready at {server.address}")
        except BaseException:
            self.down(progress, only=started)
            raise
        return started

    def _phases(self) -> list[list[Server]]:
        """Postgres first (the registry keeps its schemas there), then the other servers side by side,
        then agentlog's own processes, which need them all."""
        postgres, redis, kafka, registry, relay, projections, api = self.servers.values()
        return [[postgres], [redis, kafka, registry], [relay, projections, api]]

    @staticmethod
    def _launch(server: Server, started: list[str], progress: Progress) -> None:
        if server.launch():
            started.append(server.name)
            progress(f"{server.name} starting on {server.address}")
        else:
            progress(f"{server.name} already running on {server.address}")

    def down(self, progress: Progress = lambda _: None, only: Iterable[str] | None = None) -> list[str]:
        """Stop the servers this stack started (registry first, Postgres last); returns their names.

        With `only`, stop just those servers (the test fixtures stop what they started).
        """
        names = set(self.servers if only is None else only)
        stopped = []
        for server in reversed(self.servers.values()):
            if server.name in names and server.stop():
                stopped.append(server.name)
                progress(f"{server.name} stopped")
        return stopped

    def restart(self, name: str) -> None:
        """Stop one server and start it again on the same data, waiting until it is healthy."""
        server = self.server(name)
        server.stop()
        server.launch()
        server.wait_ready()

    def status(self) -> list[ServerStatus]:
        return [server.status() for server in self.servers.values()]
