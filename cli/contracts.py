"""`agentlog contracts check | register | diff`: the local Avro contracts against the registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.repository.base import SchemaRepositoryError
from rich.table import Table

from cli.console import err, out
from contracts import registry as workflow
from contracts.errors import ContractError, RegistryUnavailable
from contracts.routing import Routing
from contracts.schemas import AVRO_DIR, Contract, event_contracts
from contracts.settings import ContractsSettings

app = typer.Typer(help="Check, register and diff the Avro contracts against the schema registry.", no_args_is_help=True)

RegistryOpt = Annotated[str | None, typer.Option("--registry", help="registry URL [env SCHEMA_REGISTRY_URL]")]
PrefixOpt = Annotated[str | None, typer.Option("--topic-prefix", help="[env AGENTLOG_TOPIC_PREFIX]")]
DirOpt = Annotated[Path, typer.Option("--contracts-dir", help="folder of .avsc files", exists=True, file_okay=False)]
Setup = tuple[SchemaRegistryClient, Routing, dict[str, Contract]]


@contextmanager
def _registry_errors() -> Iterator[None]:
    """An unreachable or refusing registry is one line and exit code 2, never a traceback."""
    try:
        yield
    except (ContractError, SchemaRegistryError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        if isinstance(e, RegistryUnavailable):
            err.print("fix: start it with `agentlog stack up` or set SCHEMA_REGISTRY_URL", highlight=False)
        raise typer.Exit(2) from None


def _setup(registry: str | None, prefix: str | None, directory: Path) -> Setup:
    settings = ContractsSettings()
    try:
        contracts = event_contracts(directory.resolve())
    except (ValueError, KeyError, TypeError, SchemaRepositoryError) as e:
        err.print(f"[red]error:[/red] a contract does not parse: {e}", highlight=False)
        raise typer.Exit(2) from None
    client = SchemaRegistryClient({"url": registry or settings.schema_registry_url})
    return client, Routing(prefix if prefix is not None else settings.topic_prefix), contracts


def _report(reports: list[workflow.SubjectReport], contracts: dict[str, Contract]) -> None:
    table = Table("subject", "local", "registered versions", "verdict")
    for report in reports:
        colour = "red" if not report.ok else "green"
        table.add_row(
            report.subject,
            contracts[report.event_type].path.name,
            ", ".join(map(str, report.registered)) or "-",
            f"[{colour}]{report.verdict}[/{colour}]",
        )
    out.print(table)
    for report in reports:
        for problem in report.problems:
            err.print(f"[red]{report.subject}[/red] ({report.level}): {problem}", highlight=False)


@app.command()
def check(registry: RegistryOpt = None, topic_prefix: PrefixOpt = None, contracts_dir: DirOpt = AVRO_DIR) -> None:
    """Every contract parses and is compatible with all registered versions of its subjects."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    with _registry_errors(), workflow.reachable():
        reports = workflow.check(client, routing, contracts)
    _report(reports, contracts)
    bad = sum(not r.ok for r in reports)
    if bad:
        err.print(f"[red]{bad} incompatible subject(s)[/red]")
        raise typer.Exit(1)
    out.print(f"[green]{len(reports)} subjects compatible[/green]")


@app.command()
def register(registry: RegistryOpt = None, topic_prefix: PrefixOpt = None, contracts_dir: DirOpt = AVRO_DIR) -> None:
    """Register every new or changed contract (after the same check; nothing if any fails)."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    with _registry_errors(), workflow.reachable():
        reports = workflow.check(client, routing, contracts)
        if not all(r.ok for r in reports):
            _report(reports, contracts)
            err.print("[red]nothing registered: fix the incompatible contracts first[/red]")
            raise typer.Exit(1)
        ids = workflow.register(client, reports, contracts)
    for subject, schema_id in ids.items():
        out.print(f"registered {subject} as schema id {schema_id}", highlight=False)
    out.print(f"[green]{len(ids)} registered, {len(reports) - len(ids)} already up to date[/green]")


@app.command()
def diff(registry: RegistryOpt = None, topic_prefix: PrefixOpt = None, contracts_dir: DirOpt = AVRO_DIR) -> None:
    """Field-level differences between each local contract and its latest registered version."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    changed = 0
    with _registry_errors(), workflow.reachable():
        for subject, event_type in routing.subjects():
            versions = workflow.registered_versions(client, subject)
            if not versions:
                out.print(f"[yellow]{subject}[/yellow]: not registered yet", highlight=False)
                changed += 1
                continue
            latest = json.loads(versions[-1].schema.schema_str or "{}")
            changes = workflow.diff(latest, contracts[event_type].schema)
            if changes:
                changed += 1
                out.print(f"[yellow]{subject}[/yellow] (v{versions[-1].version} -> local):", highlight=False)
                for change in changes:
                    out.print(f"  {change}", highlight=False)
    out.print(f"{changed} subject(s) differ from the registry")
