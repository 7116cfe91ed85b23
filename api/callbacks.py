"""Callback URLs clients give: resolved here, judged by the domain's rule (domain/delegation/callback.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection

from pydantic import HttpUrl

from api.errors import ApiError
from domain.delegation.callback import check_callback_target, normal_host

RESOLVE_TIMEOUT = 3.0  # seconds; a resolver slower than this is treated as down
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


async def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to now; [] when no such name exists.

    Raises ApiError 503 (Retry-After) when the resolver fails or times out: the caller is not at
    fault, and a callback target that cannot be judged is not accepted.
    """
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except socket.gaierror as e:
        if e.errno in _NO_SUCH_NAME:
            return []
        raise _resolver_down(host, str(e)) from e
    except (TimeoutError, OSError) as e:
        raise _resolver_down(host, type(e).__name__) from e
    return sorted({str(info[4][0]) for info in found})


def _resolver_down(host: str, why: str) -> ApiError:
    detail = f"cannot resolve callback host {host!r} now ({why}); retry shortly"
    return ApiError(503, "resolver-unavailable", detail, headers={"Retry-After": "5"})


async def check_callback_url(field: str, url: str, allow_hosts: Collection[str]) -> None:
    """InvalidCommand(field) when the http(s) `url` (already validated) names a host that resolves to a
    loopback, private or link-local address and is not in `allow_hosts`."""
    host = HttpUrl(url).host or ""
    if normal_host(host) in allow_hosts:  # an allow-listed host needs no resolving
        return
    check_callback_target(field, host, await resolve(normal_host(host)), allow_hosts)
