"""`agentlog worker NAME`: the agent runtime's event-driven workers, one command each (see workers/)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import typer
from rich.table import Table

from cli.console import JsonOpt, out, print_json
from cli.errors import build
from cli.running import metrics_served, report_progress, run_on_uvloop, stop_on_signals
from contracts import registry
from contracts.codec import EventCodec
from contracts.routing import WORKER_TOPICS, Routing
from eventstore.store import PostgresEventStore
from observability.tracing import TracingSettings, configure_tracing
from workers.conversation.settings import ConversationSettings
from workers.delegation.settings import DelegationSettings, new_secret
from workers.runtime import Handler, Worker
from workers.settings import WorkerSettings
from workers.tools.settings import ToolSettings

app = typer.Typer(no_args_is_help=True)  # its help: cli.main.COMMANDS

# What a worker needs to handle events: the settings, the event store it writes to, and the codec.
MakeHandler = Callable[[WorkerSettings, PostgresEventStore, EventCodec], Awaitable[Handler]]
# Work a worker's process does beside handling events, until the stop event is set.
Beside = Callable[[WorkerSettings, PostgresEventStore, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class WorkerSpec:
    """A worker: the topics it consumes (before the prefix), what it does with an event, and what else it runs."""

    name: str
    topics: Sequence[str]
    summary: str
    beside: Beside | None = None


# Each worker's modules are imported by its own command only: every other `agentlog` command starts faster.


async def _deadlines(settings: WorkerSettings, store: PostgresEventStore, stop: asyncio.Event) -> None:
    from workers.tools.deadlines import enforce_deadlines  # noqa: PLC0415

    await enforce_deadlines(settings, store, stop)


DELEGATION = WorkerSpec(
    "delegation",
    WORKER_TOPICS["delegation"],
    "POSTs each ended task's outcome to its callback URL, signed (Standard Webhooks)",
)
CONVERSATION = WorkerSpec(
    "conversation",
    WORKER_TOPICS["conversation"],
    "answers each user message: budget, model, tools, streamed reply (docs/agent-runtime.md)",
)
TOOLS = WorkerSpec(
    "tools",
    WORKER_TOPICS["tools"],
    "decides on each tool request by policy, runs it, records its one outcome (docs/tools.md); "
    "ends calls past their approval deadline",
    beside=_deadlines,
)
WORKERS: dict[str, WorkerSpec] = {DELEGATION.name: DELEGATION, CONVERSATION.name: CONVERSATION, TOOLS.name: TOOLS}


@app.command("list")
def list_workers(as_json: JsonOpt = False) -> None:
    """The workers, the topics they consume and what they do."""
    rows = [{"worker": w.name, "topics": list(w.topics), "does": w.summary} for w in WORKERS.values()]
    if as_json:
        print_json(rows)
        return
    table = Table("worker", "topics", "does")
    for row in rows:
        table.add_row(str(row["worker"]), ", ".join(row["topics"]), str(row["does"]))
    out.print(table)


def serve(spec: WorkerSpec, make: MakeHandler, settings_type: type[WorkerSettings] = WorkerSettings) -> None:
    """Run a worker until SIGTERM or Ctrl-C: connect, say it is ready, handle events, report progress."""
    settings = build(settings_type)
    configure_tracing(f"agentlog-worker-{spec.name}", build(TracingSettings))
    where = metrics_served(settings.worker_metrics_port, "AGENTLOG_WORKER_METRICS_PORT")
    run_on_uvloop(_serve(spec, make, settings, where))


async def _serve(spec: WorkerSpec, make: MakeHandler, settings: WorkerSettings, where: str = "") -> None:
    stop = stop_on_signals()
    codec = EventCodec(registry.connect(settings.schema_registry_url), Routing(settings.topic_prefix))
    codec.resolve()
    store = await PostgresEventStore.connect(
        settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=settings.worker_pool_size
    )
    try:
        handler = await make(settings, store, codec)
        worker = Worker(
            spec.name,
            spec.topics,
            codec,
            settings.kafka_bootstrap_servers,
            handler,
            batch=settings.worker_batch,
            concurrency=settings.worker_concurrency,
            attempts=settings.worker_attempts,
        )
        out.print(f"worker {spec.name!r} running on {', '.join(worker.topics)}{where}", highlight=False)
        besides = [spec.beside(settings, store, stop)] if spec.beside else []
        await asyncio.gather(worker.run(stop), report_progress(lambda: worker.handled, "handled", stop), *besides)
    finally:
        await store.close()
    out.print(f"worker {spec.name!r} stopped after handling {worker.handled} event(s)")


@app.command("delegation")
def delegation() -> None:
    """Send each ended delegation task's outcome to its callback URL, signed, retried, recorded (docs/delegation.md)."""
    from workers.delegation.worker import make_handler  # noqa: PLC0415

    serve(DELEGATION, make_handler, DelegationSettings)


@app.command("conversation")
def conversation() -> None:
    """Answer each user message exactly once: budget, model, tools, streamed reply (docs/agent-runtime.md)."""
    from workers.conversation.worker import make_handler  # noqa: PLC0415

    serve(CONVERSATION, make_handler, ConversationSettings)


@app.command("tools")
def tools() -> None:
    """Decide on each tool request by policy, run it, record its one outcome; approvals resume it (docs/tools.md)."""
    from workers.tools.worker import make_handler  # noqa: PLC0415

    serve(TOOLS, make_handler, ToolSettings)


@app.command("callback-secret")
def callback_secret() -> None:
    """Print a new signing secret for AGENTLOG_WORKER_CALLBACK_SECRET (`whsec_` and 32 random bytes)."""
    out.print(new_secret(), highlight=False, soft_wrap=True)
