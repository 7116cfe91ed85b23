"""`agentlog api` (serve the REST API) and `agentlog tenants create | keys add | keys revoke`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import asyncpg
import typer

from api.settings import ApiSettings
from api.tenants import TenantError, Tenants
from cli.console import err, out
from cli.errors import CliError, build
from observability import LogSettings, configure_logging
from observability.tracing import TracingSettings, configure_tracing

if TYPE_CHECKING:
    from fastapi import FastAPI

T = TypeVar("T")
tenants = typer.Typer(no_args_is_help=True)  # its help and api's: cli.main.COMMANDS
keys = typer.Typer(help="API keys of a tenant (stored hashed; shown once).", no_args_is_help=True)
tenants.add_typer(keys, name="keys")


def api() -> None:
    """`agentlog api` (its help: cli.main.COMMANDS)."""
    import uvicorn  # noqa: PLC0415 - the web stack is imported by the command that serves it only

    from api.app import create_app  # noqa: PLC0415

    settings = build(ApiSettings)
    if settings.api_workers == 1:  # else each worker process sets it up (worker_app)
        configure_tracing("agentlog-api", build(TracingSettings))
    out.print(f"agentlog API on http://{settings.api_host}:{settings.api_port} (OpenAPI: /docs)", highlight=False)
    # several workers need an import string: each process builds the app from the same environment
    app = create_app(settings) if settings.api_workers == 1 else "cli.api:worker_app"
    uvicorn.run(
        app,
        factory=settings.api_workers > 1,
        workers=settings.api_workers,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # uvicorn's records go through the one handler `agentlog` set up (observability)
        log_level=None,
        access_log=False,  # RequestGuard logs requests when AGENTLOG_LOG_REQUESTS is set
        timeout_graceful_shutdown=5,
        # longer than clients keep idle connections (httpx 5 s, browsers up to 60 s): a server closing an idle
        # connection as a client reuses it is a failed request for that client (a POST is not retried)
        timeout_keep_alive=75,
    )


def worker_app() -> FastAPI:
    """The app in each of several uvicorn worker processes, which log as the parent does."""
    from api.app import create_app  # noqa: PLC0415

    configure_logging(LogSettings())
    configure_tracing("agentlog-api", TracingSettings())
    return create_app()


def _with_tenants(work: Callable[[Tenants], Awaitable[T]]) -> T:
    """Run `work` on the tenant records; refusals, unreachable or unmigrated databases are one line."""
    settings = build(ApiSettings)

    async def run() -> T:
        pool = await asyncpg.create_pool(
            settings.postgres_dsn, min_size=1, max_size=2, server_settings={"search_path": settings.db_schema}
        )
        try:
            return await work(Tenants(pool))
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except TenantError as e:
        raise CliError(str(e)) from e  # servers down or a bad POSTGRES_DSN: cli/errors.py explains them


@tenants.command()
def create(
    tenant_id: Annotated[str, typer.Argument(help="the tenant's id, e.g. acme")],
    name: Annotated[str, typer.Option(help="a display name")] = "",
) -> None:
    """Create a tenant."""
    _with_tenants(lambda t: t.create(tenant_id, name))
    out.print(f"[green]created tenant[/green] {tenant_id}", highlight=False)


@keys.command("add")
def add_key(
    tenant_id: Annotated[str, typer.Argument(help="the tenant the key speaks for")],
    scope: Annotated[
        list[str] | None, typer.Option(help="scope to grant (repeatable): admin, platform-admin, approve")
    ] = None,
    label: Annotated[str, typer.Option(help="a note on what the key is for")] = "",
) -> None:
    """Make an API key; it is printed once and only its hash is kept."""
    key_id, key = _with_tenants(lambda t: t.add_key(tenant_id, scope or [], label))
    err.print(
        f"key {key_id} for {tenant_id} (scopes: {', '.join(scope or []) or 'none'}); keep it, it is not shown again:"
    )
    out.print(key, highlight=False)


@keys.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="the key's id (the part after alk_)")]) -> None:
    """Revoke an API key; requests with it are refused within seconds."""
    tenant = _with_tenants(lambda t: t.revoke(key_id))
    out.print(f"[green]revoked key[/green] {key_id} of {tenant}", highlight=False)
