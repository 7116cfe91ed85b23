"""agentlog's own processes, run beside the servers: the relay and the projections."""

from __future__ import annotations

import sys
from importlib import metadata

from stack import process
from stack.server import Server


class AppProcess(Server):
    """`agentlog <args>` on the stack's servers; healthy while it runs and once it logged `ready_text`."""

    args: tuple[str, ...] = ()
    ready_text = ""
    route = ""

    @property
    def port(self) -> int:
        return 0  # listens nowhere

    @property
    def address(self) -> str:
        return self.route

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", *self.args]

    def environment(self) -> dict[str, str]:
        return {**self.settings.endpoints().as_env(), "AGENTLOG_TOPIC_PREFIX": self.settings.topic_prefix}

    def healthy(self) -> bool:
        return self.pid() is not None and self.ready_text in self.log_file.read_text(errors="replace")

    def version(self) -> str:
        return metadata.version("agentlog")


class RelayProcess(AppProcess):
    name = "relay"
    args = ("relay",)
    ready_text = "relay 'main':"
    route = "postgres -> kafka"


class ProjectionsProcess(AppProcess):
    name = "projections"
    args = ("projections", "run")
    ready_text = "projections running"

    @property
    def more_ports(self) -> dict[str, int]:
        return {"PROJECTIONS_METRICS": self.settings.projections_metrics_port}

    @property
    def address(self) -> str:
        return f"kafka -> redis, http://127.0.0.1:{self.settings.projections_metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            "AGENTLOG_PROJECTIONS_METRICS_PORT": str(self.settings.projections_metrics_port),
        }


class ApiProcess(AppProcess):
    name = "api"
    args = ("api",)
    ready_text = "agentlog API on"

    @property
    def port(self) -> int:
        return self.settings.api_port

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "AGENTLOG_API_PORT": str(self.settings.api_port)}

    def healthy(self) -> bool:
        return super().healthy() and process.port_open(self.port)
