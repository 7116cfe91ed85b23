"""`agentlog projections run | status | rebuild` (and `dlq`, see cli/deadletters.py): the Redis read models."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli import deadletters
from cli.console import JsonOpt, native_stderr_held, out, print_json
from cli.errors import CliError, Exit, build
from cli.readside import NameArg, NamesArg, codec_of, dead_letters_of, views_named
from cli.running import metrics_served, report_progress, run_on_uvloop, stop_on_signals
from contracts.routing import Routing
from contracts.topics import ensure_topics
from observability import redisconn
from observability.tracing import TracingSettings, configure_tracing
from projections import queries as read_models
from projections.deadletter import dlq_topic
from projections.rebuild import Rebuild, RebuildInProgress, Rebuilt, StoreSource
from projections.runner import ProjectionRunner
from projections.settings import ProjectionSettings
from projections.status import ViewStatus, statuses
from projections.views import View

app = typer.Typer(no_args_is_help=True)  # its help: cli.main.COMMANDS
app.add_typer(deadletters.app, name="dlq")


@app.command()
def run(names: NamesArg = None) -> None:
    """Run the views until stopped (SIGTERM or Ctrl-C), printing progress every 10 s."""
    settings = build(ProjectionSettings)
    configure_tracing("agentlog-projections", build(TracingSettings))
    views = views_named(names)
    with native_stderr_held():  # Kafka down at start: one line (exit 3), not librdkafka's retries too
        ensure_topics(settings.kafka_bootstrap_servers, [dlq_topic(settings.topic_prefix, v.name) for v in views], 1)
    codec, dead_letters = codec_of(settings), dead_letters_of(settings)
    runners = [
        ProjectionRunner(
            view,
            codec,
            settings.redis_url,
            settings.kafka_bootstrap_servers,
            dead_letters,
            prefix=settings.redis_prefix,
            batch=settings.projection_batch,
            retries=settings.projection_retries,
            backoff=settings.projection_backoff,
        )
        for view in views
    ]
    where = metrics_served(settings.projections_metrics_port, "AGENTLOG_PROJECTIONS_METRICS_PORT")
    run_on_uvloop(_run(runners, where))  # start-up objects frozen out of the collector's sight there


async def _run(runners: list[ProjectionRunner], where: str) -> None:
    stop = stop_on_signals()
    out.print(f"projections running: {', '.join(r.view.name for r in runners)}{where}", highlight=False)

    def applied() -> int:
        return sum(r.applied for r in runners)

    await asyncio.gather(*(runner.run(stop) for runner in runners), report_progress(applied, "applied", stop))
    out.print(f"projections stopped after applying {applied()} event(s)")


@app.command()
def status(names: NamesArg = None, as_json: JsonOpt = False) -> None:
    """Each view's key version, last applied position, how far behind the event store (events and seconds),
    runners, dead letters and health (ok, degraded: a runner but falling behind, stopped: no runner)."""
    settings = build(ProjectionSettings)
    views = views_named(names)
    with native_stderr_held():
        rows = asyncio.run(_statuses(settings, views))
    if as_json:
        print_json([_status_row(s) for s in rows])
        return
    table = Table(
        "view", "version", "position", "last event", "lag events", "lag s", "runners", "dead letters", "health"
    )
    for s in rows:
        last = datetime.fromtimestamp(s.last_event_at, UTC).strftime("%Y-%m-%d %H:%M:%S") if s.last_event_at else "-"
        version = f"{s.version} (rebuilding)" if s.rebuilding else str(s.version)
        colour = {"ok": "green", "degraded": "yellow"}.get(s.health, "red")
        table.add_row(
            s.view,
            version,
            str(s.position),
            last,
            str(s.lag_events),
            f"{s.lag_seconds:.1f}",
            str(s.runners),
            str(s.dead_letters),
            f"[{colour}]{s.health}[/{colour}]",
        )
    out.print(table)


async def _statuses(settings: ProjectionSettings, views: list[View]) -> list[ViewStatus]:
    client = read_models.connect(settings.redis_url)
    store = await asyncpg.connect(settings.postgres_dsn, server_settings={"search_path": settings.db_schema})
    try:
        routing = Routing(settings.topic_prefix)
        return await statuses(client, store, settings.kafka_bootstrap_servers, routing, settings.redis_prefix, views)
    finally:
        await store.close()
        await client.aclose()


def _status_row(s: ViewStatus) -> dict[str, object]:
    return {
        "view": s.view,
        "version": s.version,
        "rebuilding": s.rebuilding,
        "position": s.position,
        "last_event_at": datetime.fromtimestamp(s.last_event_at, UTC).isoformat() if s.last_event_at else None,
        "lag_events": s.lag_events,
        "lag_seconds": round(s.lag_seconds, 3),
        "runners": s.runners,
        "dead_letters": s.dead_letters,
        "health": s.health,
    }


@app.command()
def rebuild(
    name: NameArg,
    source: Annotated[str, typer.Option(help="read from 'kafka' (the topics) or 'store' (the event store)")] = "kafka",
    keep_old: Annotated[bool, typer.Option(help="keep the previous key version's keys")] = False,
) -> None:
    """Build a fresh copy of a view from the beginning, then switch readers to it atomically."""
    settings = build(ProjectionSettings)
    [view] = views_named([name])
    if source not in ("kafka", "store"):
        raise CliError(f"--source {source!r} is not a source", "choose 'kafka' or 'store'", Exit.USAGE)
    store = StoreSource(settings.postgres_dsn, settings.db_schema) if source == "store" else None
    try:
        with native_stderr_held():
            done = asyncio.run(_rebuild(settings, view, store, keep_old))
    except RebuildInProgress as e:
        raise CliError(str(e), "wait for it to finish (the lock expires a minute after it dies)") from e
    dropped = f", dropped v{done.old_version}" if done.dropped_old else f", kept v{done.old_version}"
    out.print(
        f"[green]rebuilt {done.view}[/green]: {done.events} events in {done.seconds:.1f} s "
        f"({done.rate:,.0f}/s); readers now use v{done.new_version}{dropped}",
        highlight=False,
    )


async def _rebuild(settings: ProjectionSettings, view: View, store: StoreSource | None, keep_old: bool) -> Rebuilt:
    client = redisconn.connect(settings.redis_url)
    columns = (
        TextColumn(f"rebuilding {view.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"),
        TimeRemainingColumn(),
    )
    began = time.monotonic()
    try:
        with Progress(*columns, console=out) as progress:
            task = progress.add_task("rebuild", total=None, rate=0.0)

            def show(done: int, total: int) -> None:
                rate = done / max(time.monotonic() - began, 1e-9)
                progress.update(task, completed=done, total=total, rate=rate)

            return await Rebuild(
                view,
                codec_of(settings),
                client,
                settings.kafka_bootstrap_servers,
                dead_letters_of(settings),
                prefix=settings.redis_prefix,
                store=store,
                keep_old=keep_old,
                batch=settings.projection_batch,
                progress=show,
            ).run()
    finally:
        await client.aclose()
