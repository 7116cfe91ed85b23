"""The whole local stack: start in dependency order, report status, stop what we started."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from stack import process
from stack.apps import AppProcess, SupervisorProcess, supervised
from stack.config import Endpoints, StackSettings
from stack.errors import StackError
from stack.kafka import Kafka
from stack.postgres import Postgres
from stack.redis import Redis
from stack.registry import Registry
from stack.server import Server, ServerStatus

Progress = Callable[[str], None]


class Stack:
    """Postgres, Redis, Kafka and the schema registry as private processes under settings.home, and
    agentlog's own processes (relay, projections, API) run by a supervisor that restarts them."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.backing: list[Server] = [
            Postgres(self.settings),
            *(Redis(self.settings, node) for node in range(1, self.settings.redis_nodes + 1)),
            *(Kafka(self.settings, node) for node in range(1, self.settings.kafka_brokers + 1)),
            Registry(self.settings),
        ]
        self.apps: list[AppProcess] = supervised(self.settings)
        self.supervisor = SupervisorProcess(self.settings)
        # the order to start in; `down` goes backwards: the supervisor first, so nothing restarts
        self.servers: dict[str, Server] = {
            server.name: server for server in (*self.backing, *self.apps, self.supervisor)
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
        registry stores its schemas there; the others start side by side for a short warm start;
        then the supervisor, which starts agentlog's own processes (they need every server).
        """
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with process.exclusive(self.settings.run / "up.lock"):  # two `up`s at once would start two of each
            return self._up(progress)

    def _up(self, progress: Progress) -> list[str]:
        started: list[str] = []
        try:
            postgres, *others = self.backing
            for phase in ([postgres], others):
                for server in phase:
                    self._launch(server, started, progress)
                for server in phase:
                    server.wait_ready()
                    progress(f"{server.name} ready at {server.address}")
            self._up_supervised(started, progress)
        except BaseException:
            self.down(progress, only=started)
            raise
        return started

    def _up_supervised(self, started: list[str], progress: Progress) -> None:
        """Start the supervisor unless it runs (it starts the apps not running) and wait for the apps."""
        idle = [app for app in self.apps if app.pid() is None]
        self._launch(self.supervisor, started, progress)
        self.supervisor.wait_ready()
        if self.supervisor.name in started:
            for app in idle:
                started.append(app.name)
                progress(f"{app.name} starting on {app.address}")
        for app in self.apps:
            app.wait_ready()
            progress(f"{app.name} ready at {app.address}")

    @staticmethod
    def _launch(server: Server, started: list[str], progress: Progress) -> None:
        if server.launch():
            started.append(server.name)
            progress(f"{server.name} starting on {server.address}")
        else:
            progress(f"{server.name} already running on {server.address}")

    def down(self, progress: Progress = lambda _: None, only: Iterable[str] | None = None) -> list[str]:
        """Stop the servers this stack started (supervisor first, Postgres last); returns their names.

        With `only`, stop just those servers (the test fixtures stop what they started).
        """
        names = set(self.servers if only is None else only)
        stopped = []
        # a Kafka cluster's nodes stop together: the last one stopped alone finds no controller quorum to
        # grant its controlled shutdown, and waits for one (minutes) until it is killed
        order = reversed([server for server in self.servers.values() if server.name in names])
        for _, group in itertools.groupby(order, key=lambda server: isinstance(server, Kafka) or server.name):
            servers = list(group)
            with ThreadPoolExecutor(len(servers)) as pool:
                done = list(pool.map(Server.stop, servers))
            for server in itertools.compress(servers, done):
                stopped.append(server.name)
                progress(f"{server.name} stopped")
        return stopped

    def restart(self, name: str) -> None:
        """Stop one server and start it again on the same data, waiting until it is healthy.

        A supervised process is started again by the supervisor (launched first if it is not
        running), which counts the restart.
        """
        server = self.server(name)
        server.stop()
        if server in self.apps:
            if self.supervisor.launch():
                self.supervisor.wait_ready()
        else:
            server.launch()
        server.wait_ready()

    def status(self) -> list[ServerStatus]:
        """Every server's status, in start order; checked at once (each check waits on its server)."""
        with ThreadPoolExecutor(len(self.servers)) as pool:
            return list(pool.map(lambda server: server.status(), self.servers.values()))
