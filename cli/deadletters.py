"""`agentlog projections dlq list | replay`: the events a view could not apply (its dead-letter topic)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import redis.asyncio as aioredis
import typer
from rich.table import Table

from cli.console import JsonOpt, native_stderr_held, out, print_json
from cli.errors import build
from cli.readside import NameArg, codec_of, dead_letters_of, views_named
from projections.apply import Applier
from projections.deadletter import Replayed, dlq_topic, read, replay
from projections.pipeline import Projector
from projections.settings import ProjectionSettings
from projections.views import Keys, View

app = typer.Typer(help="Events a view could not apply (its dead-letter topic).", no_args_is_help=True)


@app.command("list")
def dlq_list(
    name: NameArg,
    every: Annotated[bool, typer.Option("--all", help="also the ones already replayed")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The dead letters of a view: where each event came from, its type and the error."""
    settings = build(ProjectionSettings)
    [view] = views_named([name])
    mark = 0 if every else asyncio.run(_mark(settings, view))
    with native_stderr_held():
        letters = list(read(settings.kafka_bootstrap_servers, dlq_topic(settings.topic_prefix, view.name), mark))
    rows: list[dict[str, Any]] = [
        {
            "offset": letter.offset,
            "event_type": letter.event_type,
            "from": f"{letter.event.topic}:{letter.event.partition}@{letter.event.offset}",
            "position": letter.event.position,
            "attempts": letter.attempts,
            "failed_at": letter.failed_at,
            "error": letter.error,
        }
        for letter in letters
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no dead letters for {view.name}")
        return
    table = Table(*(column.replace("_", " ") for column in rows[0]))
    for row in rows:
        table.add_row(*(str(value) for value in (row | {"failed_at": row["failed_at"][:19]}).values()))  # to the second
    out.print(table)


async def _mark(settings: ProjectionSettings, view: View) -> int:
    async with aioredis.Redis.from_url(settings.redis_url) as client:
        return int(await client.get(Keys(settings.redis_prefix, view.name).shared("dlq-replayed")) or 0)


@app.command("replay")
def dlq_replay(name: NameArg) -> None:
    """Apply a view's dead letters again (after fixing the cause); those that fail again stay listed."""
    settings = build(ProjectionSettings)
    [view] = views_named([name])
    with native_stderr_held():
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
            codec_of(settings),
            Applier(client),
            shared.at(version),
            dead_letters_of(settings),
            offsets=False,
            retries=settings.projection_retries,
            backoff=settings.projection_backoff,
        )
        mark = int(await client.get(shared.shared("dlq-replayed")) or 0)
        topic = dlq_topic(settings.topic_prefix, view.name)
        done, mark = await replay(projector, settings.kafka_bootstrap_servers, topic, mark)
        await client.set(shared.shared("dlq-replayed"), mark)
        return done
