"""`agentlog projections run [NAME...]`: fold the event topics into the Redis read models."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from confluent_kafka.schema_registry import SchemaRegistryClient

from cli.console import err, out
from cli.errors import build
from cli.running import report_progress, stop_on_signals
from contracts.codec import EventCodec
from contracts.routing import Routing
from projections.runner import ProjectionRunner
from projections.settings import ProjectionSettings
from projections.views import VIEWS

app = typer.Typer(help="The Redis read models built from the event topics.", no_args_is_help=True)


@app.command()
def run(
    names: Annotated[list[str] | None, typer.Argument(help=f"views: {', '.join(VIEWS)} (default all)")] = None,
) -> None:
    """Run the views until stopped (SIGTERM or Ctrl-C), printing progress every 10 s."""
    settings = build(ProjectionSettings)
    unknown = sorted(set(names or []) - set(VIEWS))
    if unknown:
        err.print(f"[red]error:[/red] unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEWS)}")
        raise typer.Exit(2)
    codec = EventCodec(SchemaRegistryClient({"url": settings.schema_registry_url}), Routing(settings.topic_prefix))
    runners = [
        ProjectionRunner(
            VIEWS[name], codec, settings.redis_url, settings.kafka_bootstrap_servers, prefix=settings.redis_prefix
        )
        for name in names or VIEWS
    ]
    asyncio.run(_run(runners))


async def _run(runners: list[ProjectionRunner]) -> None:
    stop = stop_on_signals()
    out.print(f"projections running: {', '.join(r.view.name for r in runners)}")

    def applied() -> int:
        return sum(r.applied for r in runners)

    await asyncio.gather(*(runner.run(stop) for runner in runners), report_progress(applied, "applied", stop))
    out.print(f"projections stopped after applying {applied()} event(s)")
