"""Which driver errors mean "Postgres is unavailable now" (retry later), sorted once for every caller."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg

from domain.errors import Unavailable

# refused or dropped connections, a server starting up or shutting down, a connection that broke
POSTGRES_OUTAGES: tuple[type[Exception], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


def postgres_unavailable(e: BaseException) -> bool:
    """True when `e` says Postgres cannot serve now (the command may be retried as it is)."""
    if isinstance(e, asyncpg.exceptions.QueryCanceledError):  # a statement timeout is not an outage
        return False
    return isinstance(e, POSTGRES_OUTAGES)


class StoreUnavailable(Unavailable):
    """The event store cannot be reached now (see Unavailable: a retry with the same idempotency key is safe)."""

    def __init__(self, reason: str) -> None:
        super().__init__("postgres", reason)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def translate_outages(method: F) -> F:
    """Raise StoreUnavailable (from the driver's error) where `method` met an unavailable Postgres."""

    @functools.wraps(method)
    async def translated(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except Exception as e:
            if postgres_unavailable(e):
                raise StoreUnavailable(f"{type(e).__name__}: {e}") from e
            raise

    return cast(F, translated)
