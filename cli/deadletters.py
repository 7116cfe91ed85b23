"""`agentlog projections dlq list | replay`: the events a view could not apply (its dead-letter topic)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import JsonOpt, native_stderr_held, out, print_json
from cli.errors import build
from cli.readside import NameArg, codec_of, dead_letters_of, views_named
from observability import redisconn
from projections.deadletter import DeadLetter, Replayed
from projections.dlq import Where, pending, replay_view, row
from projections.settings import ProjectionSettings
from projections.views import View

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
    with native_stderr_held():
        rows: list[dict[str, Any]] = [row(letter) for letter in asyncio.run(_pending(settings, view, every))]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no dead letters for {view.name}")
        return
    table = Table(*(column.replace("_", " ") for column in rows[0]))
    for one in rows:
        table.add_row(*(str(value) for value in (one | {"failed_at": one["failed_at"][:19]}).values()))  # to the second
    out.print(table)


def _where(settings: ProjectionSettings) -> Where:
    return Where(settings.kafka_bootstrap_servers, settings.topic_prefix, settings.redis_prefix)


async def _pending(settings: ProjectionSettings, view: View, every: bool) -> list[DeadLetter]:
    async with redisconn.connect(settings.redis_url) as client:
        return await pending(client, _where(settings), view, every=every)


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
    async with redisconn.connect(settings.redis_url) as client:
        return await replay_view(
            client,
            _where(settings),
            view,
            codec_of(settings),
            dead_letters_of(settings),
            retries=settings.projection_retries,
            backoff=settings.projection_backoff,
        )
