"""agentlog's own processes run beside the servers: for now the relay (event store -> Kafka)."""

from __future__ import annotations

import sys
from importlib import metadata

from stack.server import Server


class RelayProcess(Server):
    """`agentlog relay` on the stack's event store and Kafka; healthy while it runs and checkpoints."""

    name = "relay"

    @property
    def port(self) -> int:
        return 0  # listens nowhere

    @property
    def address(self) -> str:
        return "postgres -> kafka"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "relay"]

    def environment(self) -> dict[str, str]:
        return {**self.settings.endpoints().as_env(), "AGENTLOG_TOPIC_PREFIX": self.settings.topic_prefix}

    def healthy(self) -> bool:
        """Running, and past start-up (it logs its route once connected and the topics exist)."""
        return self.pid() is not None and "relay 'main':" in self.log_file.read_text(errors="replace")

    def version(self) -> str:
        return metadata.version("agentlog")
