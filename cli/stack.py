"""`agentlog stack up | down | status | logs | restart`: the private local servers."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import out
from cli.errors import build, friendly_errors
from stack import Stack, StackSettings, supervisor
from stack.process import last_lines
from stack.server import ServerStatus

app = typer.Typer(no_args_is_help=True)  # its help: cli.main.COMMANDS
SERVER_NAMES = "postgres, redis, kafka, registry, relay, projections, api or supervisor"


def _progress(message: str) -> None:
    out.print(f"[dim]·[/dim] {message}", highlight=False)


@app.command()
def up() -> None:
    """Start every server (reusing running ones) and wait until all answer."""
    stack = build(Stack)
    began = time.monotonic()
    with friendly_errors():
        started = stack.up(_progress)
    verb = f"started {', '.join(started)}" if started else "all servers were already running"
    out.print(f"[green]stack up[/green] in {time.monotonic() - began:.1f} s: {verb}")
    _print_env(stack)


def _print_env(stack: Stack) -> None:
    for key, value in stack.endpoints.as_env().items():
        out.print(f"  {key}={value}", highlight=False)


@app.command()
def down() -> None:
    """Stop the servers this stack started; data stays for the next `up`."""
    stack = build(Stack)
    with friendly_errors():
        stopped = stack.down(_progress)
    verb = f"stopped {', '.join(stopped)}" if stopped else "nothing was running"
    out.print(f"[green]stack down[/green]: {verb}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list of objects, one per process")] = False,
) -> None:
    """Show each server and process: address, pid, version, health and restart count.

    Exit code 0 when every one is healthy, 1 otherwise (stopped, restarting, unhealthy), 2 on a
    bad AGENTLOG_* setting. `--json` prints the same rows as a list of objects with the fields
    name, address, pid, version, health, restarts, last_exit, last_start and detail.
    """
    stack = build(Stack)
    with friendly_errors():
        rows = stack.status()
    if as_json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        out.print(_table(rows))
    if any(row.health != "healthy" for row in rows):
        raise typer.Exit(1)


def _table(rows: list[ServerStatus]) -> Table:
    table = Table("server", "address", "pid", "version", "health", "restarts")
    for row in rows:
        colour = "green" if row.health == "healthy" else "red"
        health = f"[{colour}]{row.health}[/{colour}]" + (f" ({escape(row.detail)})" if row.detail else "")
        restarts = "-" if row.restarts is None else str(row.restarts)
        table.add_row(row.name, row.address, str(row.pid or "-"), row.version, health, restarts)
    return table


@app.command()
def restart(name: Annotated[str, typer.Argument(help=SERVER_NAMES)]) -> None:
    """Restart one server on its existing data (the supervisor starts relay, projections or api again)."""
    stack = build(Stack)
    with friendly_errors():
        stack.restart(name)
    out.print(f"[green]{name} restarted[/green]")


@app.command()
def supervise() -> None:
    """Run the supervisor in the foreground (`stack up` starts it): it starts relay, projections and
    api, and starts each again with backoff when it dies; stops on SIGTERM, leaving them running."""
    settings = build(StackSettings)
    with friendly_errors():
        supervisor.supervise(settings)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help=SERVER_NAMES)],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="how many lines")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
) -> None:
    """Print the end of a server's log file (its path is shown first)."""
    stack = build(Stack)
    with friendly_errors():
        log = stack.server(name).log_file
    out.print(f"[dim]{log}[/dim]")
    for line in last_lines(log, lines):
        print(line)
    if follow:
        _follow(log)


def _follow(log: os.PathLike[str]) -> None:
    with open(log, errors="replace") as f:
        f.seek(0, os.SEEK_END)
        try:
            while True:
                line = f.readline()
                if line:
                    print(line, end="")
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            pass
