"""`agentlog projections run | status | rebuild | dlq list | dlq replay`: the Redis read models."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime
from typing import Annotated

import redis.asyncio as aioredis
import typer
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import start_http_server
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.console import err, out
from cli.errors import build
from cli.running import report_progress, stop_on_signals
from contracts.codec import EventCodec
from contracts.routing import Routing
from contracts.topics import ensure_topics
from projections.apply import Applier
from projections.deadletter import DeadLetters, Replayed, dlq_topic, read, replay
from projections.pipeline import Projector
from projections.rebuild import Rebuild, RebuildInProgress, Rebuilt, StoreSource
from projections.runner import ProjectionRunner
from projections.settings import ProjectionSettings
from projections.status import statuses
from projections.views import VIEWS, Keys, View

app = typer.Typer(help="The Redis read models built from the event topics.", no_args_is_help=True)
dlq = typer.Typer(help="Events a view could not apply (its dead-letter topic).", no_args_is_help=True)
app.add_typer(dlq, name="dlq")

NamesArg = Annotated[list[str] | None, typer.Argument(help=f"views: {', '.join(VIEWS)} (default all)")]
NameArg = Annotated[str, typer.Argument(help=f"one view: {', '.join(VIEWS)}")]


def _views(names: list[str] | None) -> list[View]:
    unknown = sorted(set(names or []) - set(VIEWS))
    if unknown:
        err.print(f"[red]error:[/red] unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEWS)}")
        raise typer.Exit(2)
    return [VIEWS[name] for name in names or VIEWS]


def _codec(settings: ProjectionSettings) -> EventCodec:
    return EventCodec(SchemaRegistryClient({"url": settings.schema_registry_url}), Routing(settings.topic_prefix))


def _dead_letters(settings: ProjectionSettings) -> DeadLetters:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    return DeadLetters(producer, settings.topic_prefix)


@app.command()
def run(names: NamesArg = None) -> None:
    """Run the views until stopped (SIGTERM or Ctrl-C), printing progress every 10 s."""
    settings = build(ProjectionSettings)
    views = _views(names)
    ensure_topics(settings.kafka_bootstrap_servers, [dlq_topic(settings.topic_prefix, v.name) for v in views], 1)
    codec, dead_letters = _codec(settings), _dead_letters(settings)
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
    if settings.projections_metrics_port:
        try:
            start_http_server(settings.projections_metrics_port, addr="127.0.0.1")
        except OSError as e:
            port = settings.projections_metrics_port
            err.print(f"[red]error:[/red] cannot serve metrics on port {port}: {e.strerror}", highlight=False)
            err.print("[dim]fix:[/dim] set AGENTLOG_PROJECTIONS_METRICS_PORT to a free port, or 0 for none")
            raise typer.Exit(2) from None
    gc.freeze()  # start-up objects out of the collector's sight: each batch allocates thousands of records
    asyncio.run(_run(runners, settings.projections_metrics_port))


async def _run(runners: list[ProjectionRunner], metrics_port: int) -> None:
    stop = stop_on_signals()
    where = f"; metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""
    out.print(f"projections running: {', '.join(r.view.name for r in runners)}{where}", highlight=False)

    def applied() -> int:
        return sum(r.applied for r in runners)

    await asyncio.gather(*(runner.run(stop) for runner in runners), report_progress(applied, "applied", stop))
    out.print(f"projections stopped after applying {applied()} event(s)")


@app.command()
def status(names: NamesArg = None) -> None:
    """Each view's key version, last applied position, lag (events and seconds), runners and dead letters."""
    settings = build(ProjectionSettings)
    views = _views(names)
    rows = statuses(
        settings.redis_url,
        settings.kafka_bootstrap_servers,
        Routing(settings.topic_prefix),
        settings.redis_prefix,
        views,
    )
    table = Table(
        "view", "version", "position", "last event", "lag events", "lag s", "runners", "dead letters", "health"
    )
    for s in rows:
        last = datetime.fromtimestamp(s.last_event_at, UTC).strftime("%Y-%m-%d %H:%M:%S") if s.last_event_at else "-"
        version = f"{s.version} (rebuilding)" if s.rebuilding else str(s.version)
        colour = {"ok": "green", "behind": "yellow"}.get(s.health, "red")
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


@app.command()
def rebuild(
    name: NameArg,
    source: Annotated[str, typer.Option(help="read from 'kafka' (the topics) or 'store' (the event store)")] = "kafka",
    keep_old: Annotated[bool, typer.Option(help="keep the previous key version's keys")] = False,
) -> None:
    """Build a fresh copy of a view from the beginning, then switch readers to it atomically."""
    settings = build(ProjectionSettings)
    [view] = _views([name])
    if source not in ("kafka", "store"):
        err.print(f"[red]error:[/red] --source {source!r}: choose 'kafka' or 'store'", highlight=False)
        raise typer.Exit(2)
    store = StoreSource(settings.postgres_dsn, settings.db_schema) if source == "store" else None
    try:
        done = asyncio.run(_rebuild(settings, view, store, keep_old))
    except RebuildInProgress as e:
        err.print(f"[red]error:[/red] {e}; wait for it to finish (the lock expires a minute after it dies)")
        raise typer.Exit(1) from None
    dropped = f", dropped v{done.old_version}" if done.dropped_old else f", kept v{done.old_version}"
    out.print(
        f"[green]rebuilt {done.view}[/green]: {done.events} events in {done.seconds:.1f} s "
        f"({done.rate:,.0f}/s); readers now use v{done.new_version}{dropped}",
        highlight=False,
    )


async def _rebuild(settings: ProjectionSettings, view: View, store: StoreSource | None, keep_old: bool) -> Rebuilt:
    client = aioredis.Redis.from_url(settings.redis_url)
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
                _codec(settings),
                client,
                settings.kafka_bootstrap_servers,
                _dead_letters(settings),
                prefix=settings.redis_prefix,
                store=store,
                keep_old=keep_old,
                batch=settings.projection_batch,
                progress=show,
            ).run()
    finally:
        await client.aclose()


@dlq.command("list")
def dlq_list(
    name: NameArg,
    every: Annotated[bool, typer.Option("--all", help="also the ones already replayed")] = False,
) -> None:
    """The dead letters of a view: where each event came from, its type and the error."""
    settings = build(ProjectionSettings)
    [view] = _views([name])
    mark = 0 if every else asyncio.run(_mark(settings, view))
    table = Table("offset", "event type", "from", "position", "attempts", "failed at", "error")
    for letter in read(settings.kafka_bootstrap_servers, dlq_topic(settings.topic_prefix, view.name), mark):
        e = letter.event
        table.add_row(
            str(letter.offset),
            letter.event_type,
            f"{e.topic}:{e.partition}@{e.offset}",
            str(e.position),
            str(letter.attempts),
            letter.failed_at[:19],
            letter.error,
        )
    out.print(table if table.row_count else f"no dead letters for {view.name}")


async def _mark(settings: ProjectionSettings, view: View) -> int:
    async with aioredis.Redis.from_url(settings.redis_url) as client:
        return int(await client.get(Keys(settings.redis_prefix, view.name).shared("dlq-replayed")) or 0)


@dlq.command("replay")
def dlq_replay(name: NameArg) -> None:
    """Apply a view's dead letters again (after fixing the cause); those that fail again stay listed."""
    settings = build(ProjectionSettings)
    [view] = _views([name])
    done = asyncio.run(_replay(settings, view))
    out.print(
        f"replayed {done.read} dead letter(s) of {view.name}: {done.applied} applied, "
        f"{done.already_applied} already applied, {done.failed_again} failed again",
        highlight=False,
    )


async def _replay(settings: ProjectionSettings, view: View) -> Replayed:
    shared = Keys(settings.redis_prefix, view.name)
    async with aioredis.Redis.from_url(settings.redis_url) as client:
        version = int(await client.get(shared.shared("current")) or 1)
        projector = Projector(
            view,
            _codec(settings),
            Applier(client),
            shared.at(version),
            _dead_letters(settings),
            offsets=False,
            retries=settings.projection_retries,
            backoff=settings.projection_backoff,
        )
        mark = int(await client.get(shared.shared("dlq-replayed")) or 0)
        topic = dlq_topic(settings.topic_prefix, view.name)
        done, mark = await replay(projector, settings.kafka_bootstrap_servers, topic, mark)
        await client.set(shared.shared("dlq-replayed"), mark)
        return done
