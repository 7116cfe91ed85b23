"""agentlog's own processes beside the servers (relay, projections, API) and the supervisor that runs them.

To add a process the supervisor keeps running (a worker), subclass AppProcess with its `name`,
the `agentlog` arguments that run it and a line it logs once ready, and list it in SUPERVISED. A kind
the stack runs several of says how many in `instances` (`supervised` lists them all).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from importlib import metadata
from pathlib import Path
from types import ModuleType

from stack import process, supervision
from stack.config import StackSettings
from stack.errors import StackError
from stack.server import Server, ServerStatus
from workers.delegation.settings import new_secret

CALLBACK_SECRET = "AGENTLOG_WORKER_CALLBACK_SECRET"  # noqa: S105 - the variable's name


def _freshness() -> ModuleType:
    """stack/freshness.py, imported when `stack status` measures (its Kafka, Redis and codec imports take 0.7 s)."""
    from stack import freshness  # noqa: PLC0415 - see the docstring

    return freshness


class AppProcess(Server):
    """`agentlog <args>` on the stack's servers, a child of the supervisor.

    Healthy while it runs and once its current instance logged `ready_text`.
    """

    args: tuple[str, ...] = ()
    ready_text = ""
    route = ""
    count_setting = ""  # the StackSettings field saying how many of this kind run (none: one)

    def __init__(self, settings: StackSettings, number: int = 1) -> None:
        super().__init__(settings)
        self.number = number  # processes of one kind: `name`, `name-2`, ... each with its own files and ports
        if number > 1:
            self.name = f"{self.name}-{number}"

    @classmethod
    def instances(cls, settings: StackSettings) -> list[AppProcess]:
        """The processes of this kind the stack runs: one, or as many as its `count_setting` says."""
        count = int(getattr(settings, cls.count_setting)) if cls.count_setting else 1
        return [cls(settings, number) for number in range(1, count + 1)]

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
        # traces on in the local stack (spans kept in Redis for GET /v1/traces/{id}); AGENTLOG_TRACING=0 turns them off
        tracing = os.environ.get("AGENTLOG_TRACING", "true")
        return {
            **self.settings.endpoints().as_env(),
            "AGENTLOG_TOPIC_PREFIX": self.settings.topic_prefix,
            "AGENTLOG_TRACING": tracing,
        }

    def version(self) -> str:
        return metadata.version("agentlog")

    def record(self) -> supervision.ProcessRecord | None:
        """The supervisor's record of this process, if one was written."""
        state = supervision.read(self.settings)
        return state.processes.get(self.name) if state else None

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        record = self.record()
        try:
            with self.log_file.open("rb") as log:
                log.seek(record.log_offset if record else 0)
                logged = log.read().decode(errors="replace")
        except OSError:
            return False
        return self.ready_text in logged

    def status(self) -> ServerStatus:
        """The live checks, with the supervisor's restart count, last exit and start beside them."""
        row = super().status()
        record = self.record()
        if record is None:
            return row
        row = dataclasses.replace(
            row, restarts=record.restarts, last_exit=record.last_exit, last_start=record.last_start
        )
        supervised = SupervisorProcess(self.settings).pid() is not None
        if row.pid is None and supervised and record.detail:
            return dataclasses.replace(row, health="restarting", detail=record.detail)
        if row.pid is not None and not supervised:
            unsupervised = "not supervised: run `agentlog stack up`"
            return dataclasses.replace(row, detail="; ".join(filter(None, (unsupervised, row.detail))))
        return row

    def _launched_pid(self, grace: float = 2.0) -> int:
        """The running instance's pid, waiting while the supervisor starts it (or fails to)."""
        deadline = time.monotonic() + max(grace, self.settings.ready_timeout)
        while (pid := self.pid()) is None:
            record = self.record()
            if record and record.fix:  # its start failed before it ran, e.g. on a taken port
                raise StackError(record.detail, record.fix)
            if SupervisorProcess(self.settings).pid() is None:
                raise StackError(f"{self.name} is not running and no supervisor starts it", "run `agentlog stack up`")
            if time.monotonic() >= deadline:
                raise StackError(f"{self.name} was not started in time", f"see {self.settings.logs / 'supervisor.log'}")
            time.sleep(0.1)
        return pid


class RelayProcess(AppProcess):
    """`agentlog relay`, AGENTLOG_RELAYS of them (`relay`, `relay-2`, ...), each with its own /metrics port: one is
    active, the others stand by to take over (docs/scale.md)."""

    name = "relay"
    args = ("relay",)
    ready_text = "relay 'main':"
    route = "postgres -> kafka"
    count_setting = "relays"

    @property
    def metrics_port(self) -> int:
        return self.settings.numbered_port(self.settings.relay_metrics_port, self.number)

    @property
    def more_ports(self) -> dict[str, int]:
        return {"RELAY_METRICS": self.metrics_port}

    @property
    def address(self) -> str:
        return f"{self.route}, http://127.0.0.1:{self.metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "AGENTLOG_RELAY_METRICS_PORT": str(self.metrics_port)}

    def assess(self) -> tuple[str, str]:
        """degraded when alive but the oldest event it has not published waited too long (freshness.py)."""
        health, detail = super().assess()
        return _freshness().relay(self.settings.endpoints()) if health == "healthy" else (health, detail)


class ProjectionsProcess(AppProcess):
    """`agentlog projections run`, AGENTLOG_PROJECTIONS_PROCESSES of them (`projections`, `projections-2`, ...), each
    with its own /metrics port: they share each view's partitions (docs/scale.md)."""

    name = "projections"
    args = ("projections", "run")
    ready_text = "projections running"
    count_setting = "projections_processes"

    @property
    def metrics_port(self) -> int:
        return self.settings.numbered_port(self.settings.projections_metrics_port, self.number)

    @property
    def more_ports(self) -> dict[str, int]:
        return {"PROJECTIONS_METRICS": self.metrics_port}

    @property
    def address(self) -> str:
        return f"kafka -> redis, http://127.0.0.1:{self.metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "AGENTLOG_PROJECTIONS_METRICS_PORT": str(self.metrics_port)}

    def assess(self) -> tuple[str, str]:
        """degraded when alive but a view trails the store (freshness.py)."""
        health, detail = super().assess()
        return _freshness().views(self.settings) if health == "healthy" else (health, detail)


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
        """Its port, and the supervisor's state file for GET /v1/admin/processes and the restart metrics."""
        state = str(supervision.path(self.settings))
        return {
            **super().environment(),
            "AGENTLOG_API_PORT": str(self.settings.api_port),
            "AGENTLOG_API_SUPERVISOR_STATE": state,
        }

    def healthy(self) -> bool:
        return super().healthy() and process.port_open(self.port)


class WorkerProcess(AppProcess):
    """`agentlog worker <name>`: degraded when alive but its consumer group trails its topics (freshness.py)."""

    @property
    def metrics_port(self) -> int:
        """Its /metrics port: the stack setting `<name>_metrics_port`."""
        return int(getattr(self.settings, f"{self.name}_metrics_port"))

    @property
    def more_ports(self) -> dict[str, int]:
        return {f"{self.name.upper()}_METRICS": self.metrics_port}

    @property
    def address(self) -> str:
        return f"{self.route}, http://127.0.0.1:{self.metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "AGENTLOG_WORKER_METRICS_PORT": str(self.metrics_port)}

    def assess(self) -> tuple[str, str]:
        health, detail = super().assess()
        return _freshness().worker(self.settings, self.name) if health == "healthy" else (health, detail)


class ConversationProcess(WorkerProcess):
    """`agentlog worker conversation`: answers each user message (docs/agent-runtime.md)."""

    name = "conversation"
    args = ("worker", "conversation")
    ready_text = "worker 'conversation' running"
    route = "conversation.inbound -> replies"


class ToolsProcess(WorkerProcess):
    """`agentlog worker tools`, with the Rego policies in the `policies/` folder beside agentlog's code unless
    AGENTLOG_TOOLS_POLICY_DIR names another (docs/tools.md)."""

    name = "tools"
    args = ("worker", "tools")
    ready_text = "worker 'tools' running"
    route = "tool.requests -> tool.results"

    def environment(self) -> dict[str, str]:
        policies = os.environ.get("AGENTLOG_TOOLS_POLICY_DIR") or str(Path(__file__).resolve().parents[1] / "policies")
        return {**super().environment(), "AGENTLOG_TOOLS_POLICY_DIR": policies}


class DelegationProcess(WorkerProcess):
    """`agentlog worker delegation`, signing with AGENTLOG_WORKER_CALLBACK_SECRET when set, else with a secret
    made once and kept in its data directory, `callback-secret`, readable by its owner only (docs/delegation.md)."""

    name = "delegation"
    args = ("worker", "delegation")
    ready_text = "worker 'delegation' running"
    route = "delegation.tasks -> callback URLs"

    def environment(self) -> dict[str, str]:
        if CALLBACK_SECRET in os.environ:  # the child inherits it
            return super().environment()
        kept = self.data_dir / "callback-secret"
        if not kept.exists():
            kept.touch(mode=0o600)
            kept.write_text(new_secret() + "\n")
        return {**super().environment(), CALLBACK_SECRET: kept.read_text().strip()}


SUPERVISED: tuple[type[AppProcess], ...] = (
    RelayProcess,
    ProjectionsProcess,
    ApiProcess,
    ConversationProcess,
    ToolsProcess,
    DelegationProcess,
)


def supervised(settings: StackSettings) -> list[AppProcess]:
    """Every process the supervisor runs, in SUPERVISED order, each kind as many times as the settings say."""
    return [app for kind in SUPERVISED for app in kind.instances(settings)]


class SupervisorProcess(Server):
    """`agentlog stack supervise`: starts the SUPERVISED processes and starts each again when it dies.

    Healthy while it runs and once it wrote its state file. Stopping it leaves its children
    running (`stack down` stops them next), so nothing is restarted while the stack stops.
    """

    name = "supervisor"

    @property
    def port(self) -> int:
        return 0

    @property
    def address(self) -> str:
        return f"restarts {', '.join(app.name for app in SUPERVISED)}"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "stack", "supervise"]

    def environment(self) -> dict[str, str]:
        """Every launcher setting, so the supervisor runs this stack even when it was built in code."""
        settings = self.settings.model_dump(mode="json", exclude_none=True)
        return {f"AGENTLOG_{key.upper()}": str(value) for key, value in settings.items()}

    def healthy(self) -> bool:
        state = supervision.read(self.settings)
        return state is not None and state.pid == self.pid()

    def version(self) -> str:
        return metadata.version("agentlog")
