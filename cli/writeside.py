"""`agentlog db migrate` and `agentlog relay`: the write side's storage and its publisher."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from cli.console import native_stderr_held, out
from cli.errors import build
from cli.running import metrics_served, report_progress, run_on_uvloop, stop_on_signals
from contracts.routing import Routing
from contracts.topics import ensure_topics
from eventstore import metrics as relay_metrics
from eventstore.migrate import migrate as apply_migrations
from eventstore.relay import Relay
from eventstore.settings import EventStoreSettings
from observability.tracing import TracingSettings, configure_tracing

db = typer.Typer(no_args_is_help=True)  # its help and relay's: cli.main.COMMANDS


@db.command()
def migrate() -> None:
    """Apply the event store's schema migrations that the database lacks."""
    settings = build(EventStoreSettings)
    applied = apply_migrations(settings.postgres_dsn, settings.db_schema)  # a server down: one line, exit 3
    out.print(f"[green]applied {len(applied)} migration(s)[/green] {' '.join(applied)}", highlight=False)


def relay() -> None:
    """`agentlog relay` (its help: cli.main.COMMANDS)."""
    settings = build(EventStoreSettings)
    configure_tracing("agentlog-relay", build(TracingSettings))
    topics = Routing(settings.topic_prefix).topics()
    with native_stderr_held():  # Kafka down at start: one line (exit 3), not librdkafka's retries too
        ensure_topics(settings.kafka_bootstrap_servers, topics, settings.topic_partitions)
    where = metrics_served(settings.relay_metrics_port, "AGENTLOG_RELAY_METRICS_PORT")
    run_on_uvloop(_relay(settings, where))


async def _relay(settings: EventStoreSettings, where: str = "") -> None:
    stop = stop_on_signals()
    pool = await asyncpg.create_pool(
        settings.postgres_dsn, min_size=2, max_size=4, server_settings={"search_path": settings.db_schema}
    )
    relay = Relay(
        pool,
        settings.kafka_bootstrap_servers,
        name=settings.relay_name,
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
        standby_interval=settings.relay_standby_interval,
    )
    out.print(f"relay {settings.relay_name!r}: {settings.db_schema} -> {settings.kafka_bootstrap_servers}{where}")
    try:
        await asyncio.gather(
            relay.run(stop),
            report_progress(lambda: relay.published, "published", stop),
            relay_metrics.export_lag(pool, settings.relay_name, stop),
        )
    finally:
        await pool.close()
    out.print(f"relay stopped after publishing {relay.published} event(s)")
