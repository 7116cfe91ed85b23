"""Resolving a host now, for those that judge an address before they connect or accept it: the API (a callback
URL a client gives), the delegation worker (delivering to it) and the tools worker (http_fetch)."""

from __future__ import annotations

import asyncio
import socket

NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class Unreachable(Exception):
    """The host cannot be resolved now (no such name yet, or the resolver failed): worth another attempt."""


RESOLVE_TIMEOUT = 3.0  # seconds; a resolver slower than this is treated as down


async def resolve(host: str, port: int | None = None, timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    """The addresses `host` resolves to now, in the resolver's order; [] when no such name exists.

    Raises Unreachable when the resolver fails or takes longer than `timeout` seconds.
    """
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except socket.gaierror as e:
        if e.errno in NO_SUCH_NAME:
            return []
        raise Unreachable(f"cannot resolve {host!r}: {e}") from e
    except (TimeoutError, OSError) as e:
        raise Unreachable(f"cannot resolve {host!r}: {type(e).__name__}") from e
    return list(dict.fromkeys(str(info[4][0]) for info in found))
