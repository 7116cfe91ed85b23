"""`agentlog stack up | down | status | logs | restart`: the private local servers."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer
from rich.table import Table

from cli.console import out
from cli.errors import build, friendly_errors
from stack import Stack
from stack.process import last_lines

app = typer.Typer(help="Run agentlog's private Postgres, Redis, Kafka and schema registry.", no_args_is_help=True)


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
def status() -> None:
    """Show each server, its address, pid, version and health; exit 1 unless all are healthy."""
    stack = build(Stack)
    table = Table("server", "address", "pid", "version", "health")
    rows = stack.status()
    for row in rows:
        colour = "green" if row.health == "healthy" else "red"
        table.add_row(row.name, row.address, str(row.pid or "-"), row.version, f"[{colour}]{row.health}[/{colour}]")
    out.print(table)
    if any(row.health != "healthy" for row in rows):
        raise typer.Exit(1)


@app.command()
def restart(name: Annotated[str, typer.Argument(help="postgres, redis, kafka or registry")]) -> None:
    """Restart one server on its existing data."""
    stack = build(Stack)
    with friendly_errors():
        stack.restart(name)
    out.print(f"[green]{name} restarted[/green]")


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="postgres, redis, kafka or registry")],
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
