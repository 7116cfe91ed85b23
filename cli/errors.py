"""How `agentlog` fails: one line naming the cause and the fix, and an exit code scripts can act on.

Exit codes: 0 done; 1 the command ran and the answer is no (incompatible contracts, a refused
request, a launcher failure); 2 bad usage or a bad setting (an option, an AGENTLOG_* value, a server
URL that is not one); 3 a server is unreachable (Postgres, Redis, Kafka or the schema registry):
the same command may work once it is up.
"""

from __future__ import annotations

import select
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperGroup

from cli.console import err

if TYPE_CHECKING:
    from confluent_kafka import KafkaException

# The drivers, the launcher and the contracts are imported by `explain` when a failure needs explaining, not
# here: every command imports this module, and most use only some of them (ruff's PLC0415 is off for this file).

T = TypeVar("T")
EXIT_CODES = "Exit codes: 0 done, 1 failed or unhealthy, 2 bad usage or setting, 3 a server unreachable."


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3


class CliError(Exception):
    """A failure the command explains: `cause` and `fix` make its one line, `code` is the exit code."""

    def __init__(self, cause: str, fix: str = "", code: Exit = Exit.FAILED) -> None:
        super().__init__(cause)
        self.cause, self.fix, self.code = cause, fix, code


def report(e: CliError) -> NoReturn:
    """Print `error: <cause>; fix: <fix>` on stderr (quoted input is not markup) and exit with e.code."""
    fix = f"; fix: {escape(e.fix)}" if e.fix else ""
    err.print(f"[red]error:[/red] {escape(e.cause)}{fix}", highlight=False)
    raise typer.Exit(int(e.code))


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Report every failure `explain` knows (bad settings, servers down, launcher errors) as one line."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as e:
        if isinstance(e, BrokenPipeError) and _nobody_reads_stdout():
            raise  # `agentlog ... | head` once head has ended: typer ends the command quietly (exit 1)
        known = explain(e)
        if known is None:
            raise  # a bug: its traceback is the report
        report(known)


def _nobody_reads_stdout() -> bool:
    """Whether standard output is a pipe whose reader has gone (a broken pipe to a server is a server's failure)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (output captured in process)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def build(factory: Callable[[], T]) -> T:
    """Build a settings-backed object, reporting bad settings as one line each (exit 2)."""
    with friendly_errors():
        return factory()


class FriendlyGroup(TyperGroup):
    """The root command: whatever a sub-command raises that `explain` knows becomes one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer.core.TyperGroup types it with its vendored click Context
        with friendly_errors():
            return super().invoke(ctx)


UP = "start it with `agentlog stack up` or set"


def explain(e: BaseException) -> CliError | None:
    """What to tell the user about e, or None for a bug (which keeps its traceback)."""
    from stack import StackError

    match e:
        case CliError():
            return e
        case StackError():
            return CliError(e.cause, e.fix, Exit.FAILED)
        case ValidationError():
            return CliError(_settings(e), "see `agentlog --help` and the README's configuration table", Exit.USAGE)
    return _servers(e) or _contracts(e)


def _settings(e: ValidationError) -> str:
    problems = []
    for problem in e.errors():
        field = "_".join(str(part) for part in problem["loc"])
        name = field if field.isupper() else f"AGENTLOG_{field.upper()}"  # aliases are the env names
        problems.append(f"{name}={problem.get('input')!r}: {problem['msg']}")
    return "; ".join(problems)


def _servers(e: BaseException) -> CliError | None:
    import asyncpg
    import psycopg
    import redis.exceptions
    from confluent_kafka import KafkaException

    match e:
        case redis.exceptions.ConnectionError() | redis.exceptions.TimeoutError():
            return CliError(f"cannot reach Redis: {e}", f"{UP} REDIS_URL", Exit.UNREACHABLE)
        case ValueError() if "Redis URL" in str(e):
            return CliError(f"REDIS_URL is not a Redis URL: {e}", "set REDIS_URL=redis://HOST:PORT/DB", Exit.USAGE)
        case KafkaException():
            return _kafka(e)
        case asyncpg.PostgresError() | asyncpg.InterfaceError() | psycopg.Error() | OSError():
            return _postgres(e)
    return None


def _postgres(e: BaseException) -> CliError | None:
    """Postgres errors met while connecting (asyncpg raises OSError for a refused connection)."""
    import asyncpg
    import psycopg

    reason = _first_line(e)
    match e:
        case asyncpg.UndefinedTableError() | psycopg.errors.UndefinedTable():
            return CliError(f"the database lacks a table: {reason}", "run `agentlog db migrate`", Exit.USAGE)
        case asyncpg.ClientConfigurationError() | psycopg.ProgrammingError() if _bad_dsn(reason):
            fix = "set POSTGRES_DSN=postgresql://USER@HOST:PORT/DATABASE"
            return CliError(f"POSTGRES_DSN is not a Postgres URL: {reason}", fix, Exit.USAGE)
        case asyncpg.InvalidCatalogNameError() | asyncpg.InvalidAuthorizationSpecificationError():
            return CliError(f"Postgres refused the connection: {reason}", "correct POSTGRES_DSN", Exit.USAGE)
        case psycopg.OperationalError() if "FATAL" in str(e):  # it answered, refusing the user or database
            return CliError(f"Postgres refused the connection: {reason}", "correct POSTGRES_DSN", Exit.USAGE)
        case ConnectionError() | socket.gaierror() | TimeoutError() | asyncpg.PostgresConnectionError():
            return CliError(f"cannot reach Postgres: {reason}", f"{UP} POSTGRES_DSN", Exit.UNREACHABLE)
        case asyncpg.CannotConnectNowError() | psycopg.OperationalError():
            return CliError(f"cannot reach Postgres: {reason}", f"{UP} POSTGRES_DSN", Exit.UNREACHABLE)
    return None


def _bad_dsn(reason: str) -> bool:
    return "dsn" in reason.lower() or "connection info string" in reason


def _kafka(e: KafkaException) -> CliError:
    from confluent_kafka import KafkaError

    unreachable = {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._WAIT_COORD,
    }
    error = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
    reason = error.str() if error else str(e)
    if error is not None and error.code() in unreachable:
        return CliError(f"cannot reach Kafka: {reason}", f"{UP} KAFKA_BOOTSTRAP_SERVERS", Exit.UNREACHABLE)
    if error is not None and error.code() == KafkaError._INVALID_ARG:
        return CliError(f"a Kafka setting is not valid: {reason}", "check KAFKA_BOOTSTRAP_SERVERS", Exit.USAGE)
    return CliError(f"Kafka refused: {reason}", "see the broker's log (`agentlog stack logs kafka`)", Exit.FAILED)


def _contracts(e: BaseException) -> CliError | None:
    import httpx
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from contracts.errors import ContractError, RegistryUnavailable

    match e:
        case RegistryUnavailable() | httpx.TransportError():
            reason = str(e) if isinstance(e, RegistryUnavailable) else f"cannot reach the schema registry: {e}"
            return CliError(reason, f"{UP} SCHEMA_REGISTRY_URL", Exit.UNREACHABLE)
        case SchemaRegistryError() if e.http_status_code >= 500:
            return CliError(
                f"the schema registry failed: {e}", "see its log (`agentlog stack logs registry`)", Exit.UNREACHABLE
            )
        case SchemaRegistryError() | ContractError():
            return CliError(str(e), "see docs/contracts.md", Exit.FAILED)
    return None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
