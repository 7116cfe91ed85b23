"""`agentlog` root command: sub-commands per capability, one-line errors instead of tracebacks."""

from __future__ import annotations

import typer

from cli import api, contracts, projections, stack, writeside

app = typer.Typer(
    help="agentlog: event-sourced backbone for AI-agent conversations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(contracts.app, name="contracts")
app.add_typer(writeside.db, name="db")
app.add_typer(projections.app, name="projections")
app.add_typer(api.tenants, name="tenants")
app.command()(writeside.relay)
app.command()(api.api)


if __name__ == "__main__":
    app()
