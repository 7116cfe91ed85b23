"""`agentlog` root command: sub-commands per capability, logging set up once, one-line errors with exit codes."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cli.console import out
from cli.errors import EXIT_CODES, FriendlyGroup, build
from observability import LogSettings, configure_logging

# Every sub-command and where it lives: its module is imported when it runs (or a help page lists it), so a
# command loads only the libraries it uses (`agentlog tenants ...` no Kafka, `agentlog --version` nothing).
COMMANDS = {
    "stack": ("cli.stack", "app"),
    "contracts": ("cli.contracts", "app"),
    "db": ("cli.writeside", "db"),
    "projections": ("cli.projections", "app"),
    "tenants": ("cli.api", "tenants"),
    "worker": ("cli.workers", "app"),
    "replay": ("cli.replay", "app"),
    "relay": ("cli.writeside", "relay"),
    "api": ("cli.api", "api"),
}


class LazyGroup(FriendlyGroup):
    """The root command, building a sub-command from its module the first time it is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> TyperGroup | TyperCommand | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        found = getattr(importlib.import_module(module), name)
        if isinstance(found, typer.Typer):
            group = typer.main.get_group(found)
            group.name = cmd_name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name=cmd_name)(found)
        command = typer.main.get_command(single)
        assert isinstance(command, TyperCommand)  # one command, no callback: typer returns the command itself
        return command


app = typer.Typer(
    cls=LazyGroup,
    help="agentlog: event-sourced backbone for AI-agent conversations.",
    epilog=f"{EXIT_CODES} Logs: AGENTLOG_LOG_FORMAT=text|json, AGENTLOG_LOG_LEVEL (default INFO).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
