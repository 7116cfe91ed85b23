"""`agentlog contracts check | register | diff`: the local Avro contracts against the registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro.repository.base import SchemaRepositoryError
from rich.table import Table

from cli.console import JsonOpt, err, out, print_json
from cli.errors import CliError, Exit, build
from contracts import registry as workflow
from contracts.routing import Routing
from contracts.schemas import AVRO_DIR, Contract, event_contracts
from contracts.settings import LOCAL_REGISTRY, ContractsSettings
from observability.http import tls

app = typer.Typer(no_args_is_help=True)  # its help: cli.main.COMMANDS

RegistryOpt = Annotated[str | None, typer.Option("--registry", help="registry URL [env SCHEMA_REGISTRY_URL]")]
PrefixOpt = Annotated[str | None, typer.Option("--topic-prefix", help="[env AGENTLOG_TOPIC_PREFIX]")]
DirOpt = Annotated[Path, typer.Option("--contracts-dir", help="folder of .avsc files", exists=True, file_okay=False)]
Setup = tuple[SchemaRegistryClient, Routing, dict[str, Contract]]


def _setup(registry: str | None, prefix: str | None, directory: Path) -> Setup:
    settings = build(ContractsSettings)
    routing = Routing(prefix if prefix is not None else settings.topic_prefix)
    return _registry(registry or settings.schema_registry_url), routing, _contracts(directory, routing)


def _contracts(directory: Path, routing: Routing) -> dict[str, Contract]:
    """Every contract in `directory`, which must hold one for each routed event type."""
    fix = f"point --contracts-dir at a folder with every event's .avsc (the default is {AVRO_DIR})"
    try:
        contracts = event_contracts(directory.resolve())
    except (ValueError, KeyError, TypeError, SchemaRepositoryError) as e:
        raise CliError(f"a contract does not parse: {e} (in {directory})", "correct the .avsc file", Exit.USAGE) from e
    missing = sorted({event_type for _, event_type in routing.subjects()} - set(contracts))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise CliError(f"{directory} has no contract for {len(missing)} routed event type(s): {shown}", fix, Exit.USAGE)
    return contracts


def _registry(url: str) -> SchemaRegistryClient:
    """A client for `url`, once it answers GET /subjects as a Confluent-compatible registry does."""
    parts = urlsplit(url)
    example = f"e.g. --registry {LOCAL_REGISTRY} (or SCHEMA_REGISTRY_URL)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"the registry URL {url!r} is not an http(s) URL", example, Exit.USAGE)
    probe = httpx.get(f"{url.rstrip('/')}/subjects", timeout=10, verify=tls())  # unreachable: explained as exit 3
    try:
        answered = probe.status_code == 200 and isinstance(probe.json(), list)
    except ValueError:
        answered = False
    if not answered:
        raise CliError(
            f"{url} does not answer like a Confluent-compatible schema registry (GET /subjects: {probe.status_code})",
            f"use the registry's Confluent-compatible base URL (Apicurio's ends in /apis/ccompat/v7), {example}",
            Exit.USAGE,
        )
    return workflow.connect(url)


def _rows(reports: list[workflow.SubjectReport], contracts: dict[str, Contract]) -> list[dict[str, Any]]:
    return [
        {
            "subject": r.subject,
            "event_type": r.event_type,
            "contract": contracts[r.event_type].path.name,
            "level": r.level,
            "registered_versions": r.registered,
            "verdict": r.verdict,
            "problems": r.problems,
        }
        for r in reports
    ]


def _report(reports: list[workflow.SubjectReport], contracts: dict[str, Contract], as_json: bool = False) -> None:
    if as_json:
        print_json(_rows(reports, contracts))
        return
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
def check(
    registry: RegistryOpt = None,
    topic_prefix: PrefixOpt = None,
    contracts_dir: DirOpt = AVRO_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Every contract parses and is compatible with all registered versions of its subjects (exit 1 if not)."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    with workflow.reachable():
        reports = workflow.check(client, routing, contracts)
    _report(reports, contracts, as_json)
    bad = sum(not r.ok for r in reports)
    if bad:
        err.print(f"[red]{bad} incompatible subject(s)[/red]")
        raise typer.Exit(Exit.FAILED)
    if not as_json:
        out.print(f"[green]{len(reports)} subjects compatible[/green]")


@app.command()
def register(registry: RegistryOpt = None, topic_prefix: PrefixOpt = None, contracts_dir: DirOpt = AVRO_DIR) -> None:
    """Register every new or changed contract (after the same check; nothing if any fails)."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    with workflow.reachable():
        reports = workflow.check(client, routing, contracts)
        if not all(r.ok for r in reports):
            _report(reports, contracts)
            err.print("[red]nothing registered: fix the incompatible contracts first[/red]")
            raise typer.Exit(Exit.FAILED)
        ids = workflow.register(client, reports, contracts)
    for subject, schema_id in ids.items():
        out.print(f"registered {subject} as schema id {schema_id}", highlight=False)
    out.print(f"[green]{len(ids)} registered, {len(reports) - len(ids)} already up to date[/green]")


@app.command()
def diff(
    registry: RegistryOpt = None,
    topic_prefix: PrefixOpt = None,
    contracts_dir: DirOpt = AVRO_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Field-level differences between each local contract and its latest registered version."""
    client, routing, contracts = _setup(registry, topic_prefix, contracts_dir)
    with workflow.reachable():
        rows = [_difference(client, subject, contracts[event_type]) for subject, event_type in routing.subjects()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        if row["registered_version"] is None:
            out.print(f"[yellow]{row['subject']}[/yellow]: not registered yet", highlight=False)
        elif row["changes"]:
            out.print(f"[yellow]{row['subject']}[/yellow] (v{row['registered_version']} -> local):", highlight=False)
            for change in row["changes"]:
                out.print(f"  {change}", highlight=False)
    changed = sum(1 for row in rows if row["registered_version"] is None or row["changes"])
    out.print(f"{changed} subject(s) differ from the registry")


def _difference(client: SchemaRegistryClient, subject: str, contract: Contract) -> dict[str, Any]:
    """One subject's changes from its latest registered version to the local contract."""
    versions = workflow.registered_versions(client, subject)
    if not versions:
        return {"subject": subject, "registered_version": None, "changes": []}
    latest = json.loads(versions[-1].schema.schema_str or "{}")
    changes = workflow.diff(latest, contract.schema)
    return {"subject": subject, "registered_version": versions[-1].version, "changes": changes}


class GateCheck(StrEnum):
    """The checks of `can-i-deploy`, in the order they run."""

    AVRO = "avro"
    OPENAPI = "openapi"
    PACTS = "pacts"
    HTTP_PACTS = "http-pacts"


@app.command("can-i-deploy")
def can_i_deploy(
    registry: RegistryOpt = None,
    topic_prefix: PrefixOpt = None,
    contracts_dir: DirOpt = AVRO_DIR,
    openapi_base: Annotated[
        str | None, typer.Option("--openapi-base", help="earlier OpenAPI document: a file or an http(s) URL")
    ] = None,
    base_ref: Annotated[
        str | None,
        typer.Option(
            "--base-ref", help="git ref whose contracts/openapi/agentlog.json is the base [origin/main, else HEAD]"
        ),
    ] = None,
    only: Annotated[
        list[GateCheck] | None, typer.Option("--check", help="run this check only (repeat for more) [all four]")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Avro contracts compatible with the registry, OpenAPI backward compatible, every pact verified (exit 1 if not).

    The pacts are verified on the servers in POSTGRES_DSN, KAFKA_BOOTSTRAP_SERVERS and REDIS_URL (default:
    the local stack's), in a schema, topics, subjects and keys of their own: the message pacts against what
    the relay publishes, the HTTP pacts against this code's API run there.
    """
    from cli import can_i_deploy as gate  # noqa: PLC0415 - imports the API app and pact only when asked

    settings = build(ContractsSettings)
    url = registry or settings.schema_registry_url
    wanted = set(only or GateCheck)
    if wanted != {GateCheck.OPENAPI}:
        _registry(url)  # a registry that does not answer is said once, before any check that needs it
    prefix = topic_prefix if topic_prefix is not None else settings.topic_prefix
    _contracts(contracts_dir, Routing(prefix))  # one that does not parse is a usage error (exit 2), said once
    runs: dict[GateCheck, Callable[[], Any]] = {
        GateCheck.AVRO: lambda: gate.avro(url, prefix, contracts_dir),
        GateCheck.OPENAPI: lambda: gate.openapi(openapi_base, base_ref),
        GateCheck.PACTS: lambda: gate.pacts(_servers(url)),
        GateCheck.HTTP_PACTS: lambda: gate.http_pacts(_servers(url)),
    }
    with gate.stdout_to_stderr():  # pact's verifier prints its report on stdout: keep stdout for the result
        checks = [
            run() if check is GateCheck.AVRO else _guarded(check.value, run)
            for check, run in runs.items()
            if check in wanted
        ]
    if as_json:
        print_json([c.as_dict() for c in checks])
    else:
        for c in checks:
            colour = "green" if c.ok else "red"
            out.print(f"[{colour}]{'ok' if c.ok else 'FAILED'}[/{colour}] {c.name}: {c.summary}", highlight=False)
            for line in c.failures:
                err.print(f"  [red]{c.name}[/red] {line}", highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(Exit.FAILED)


def _guarded(name: str, run: Any) -> Any:
    """The check's result; a check that cannot run at all fails, saying why."""
    from cli.can_i_deploy import Check  # noqa: PLC0415

    try:
        return run()
    except (OSError, ValueError, RuntimeError, httpx.HTTPError) as e:
        failed = Check(name)
        failed.fail(f"could not run: {e}")
        return failed


def _servers(registry_url: str) -> Any:
    """The servers the pacts are verified on: each one set in the environment, else the local stack's."""
    from projections.settings import ReadSideSettings  # noqa: PLC0415
    from stack import Endpoints  # noqa: PLC0415
    from stack.config import StackSettings  # noqa: PLC0415

    local, given = StackSettings().endpoints(), ReadSideSettings()

    def pick(name: str) -> str:
        return str(getattr(given if name in given.model_fields_set else local, name))

    return Endpoints(pick("postgres_dsn"), pick("redis_url"), pick("kafka_bootstrap_servers"), registry_url)
