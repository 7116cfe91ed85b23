"""Which driver errors mean "Postgres is unavailable now" (retry later), sorted once for every caller."""

from __future__ import annotations

import asyncpg

from domain.errors import Unavailable

# refused or dropped connections, a server starting up or shutting down, a connection that broke
_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def postgres_unavailable(e: BaseException) -> bool:
    """True when `e` says Postgres cannot serve now (the command may be retried as it is)."""
    if isinstance(e, asyncpg.exceptions.QueryCanceledError):  # a statement timeout is not an outage
        return False
    return isinstance(e, _UNAVAILABLE | TimeoutError)


class StoreUnavailable(Unavailable):
    """The event store cannot be reached now (see Unavailable: a retry with the same idempotency key is safe)."""

    def __init__(self, reason: str) -> None:
        super().__init__("postgres", reason)
