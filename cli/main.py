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

# Every sub-command: where it lives and what it does (its help's one home). Its module is imported when it runs or
# its own help is asked for, so a command loads only the libraries it uses (`agentlog tenants ...` no Kafka) and
# the root's help and `--version` none of them.
COMMANDS = {
    "stack": ("cli.stack", "app",
              "Run agentlog's private Postgres, Redis, Kafka and schema registry, and its supervised processes."),
    "contracts": ("cli.contracts", "app", "Check, register and diff the Avro contracts against the schema registry."),
    "db": ("cli.writeside", "db", "The event store's database."),
    "projections": ("cli.projections", "app", "The Redis read models built from the event topics."),
    "tenants": ("cli.api", "tenants", "Tenants and their API keys."),
    "worker": ("cli.workers", "app", "The agent runtime's workers (each also runs under `agentlog stack up`)."),
    "replay": ("cli.replay", "app", "Analysts' tools over the event store: export, state, into (docs/replay.md)."),
    "relay": ("cli.writeside", "relay",
              "Publish committed events to Kafka until stopped (SIGTERM or Ctrl-C); progress every 10 s."),
    "api": ("cli.api", "api",
            "Serve the REST API until stopped (SIGTERM or Ctrl-C); OpenAPI at /docs and /openapi.json."),
}  # fmt: skip


class LazyGroup(FriendlyGroup):
    """The root command, building a sub-command from its module the first time it is asked for (the root's help
    lists them from COMMANDS alone)."""

    listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> TyperGroup | TyperCommand | None:
        if cmd_name not in COMMANDS:
            return None
        module, name, says = COMMANDS[cmd_name]
        if self.listing:
            return TyperCommand(cmd_name, help=says)
        found = getattr(importlib.import_module(module), name)
        if isinstance(found, typer.Typer):
            group = typer.main.get_group(found)
            group.name, group.help = cmd_name, says
            return group
        single = typer.Typer(add_completion=False)
        single.command(name=cmd_name, help=says)(found)
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
