"""`agentlog` root command: sub-commands per capability, logging set up once, one-line errors with exit codes."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from cli import api, contracts, projections, replay, stack, workers, writeside
from cli.console import out
from cli.errors import EXIT_CODES, FriendlyGroup, build
from observability import LogSettings, configure_logging

app = typer.Typer(
    cls=FriendlyGroup,
    help="agentlog: event-sourced backbone for AI-agent conversations.",
    epilog=f"{EXIT_CODES} Logs: AGENTLOG_LOG_FORMAT=text|json, AGENTLOG_LOG_LEVEL (default INFO).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(contracts.app, name="contracts")
app.add_typer(writeside.db, name="db")
app.add_typer(projections.app, name="projections")
app.add_typer(api.tenants, name="tenants")
app.add_typer(workers.app, name="worker")
app.add_typer(replay.app, name="replay")
app.command()(writeside.relay)
app.command()(api.api)


def _version(asked: bool) -> None:
    if asked:
        out.print(f"agentlog {metadata.version('agentlog')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """agentlog: event-sourced backbone for AI-agent conversations."""
    configure_logging(build(LogSettings))  # every process the command starts logs the same way


if __name__ == "__main__":
    app()
