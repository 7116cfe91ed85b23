"""Callback URLs clients give: resolved here, judged by the domain's rule (domain/delegation/callback.py)."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import HttpUrl

from api.errors import ApiError
from domain.delegation.callback import check_callback_target, normal_host
from observability.resolve import Unreachable
from observability.resolve import resolve as resolved


async def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to now; [] when no such name exists.

    Raises ApiError 503 (Retry-After) when the resolver fails or times out: the caller is not at
    fault, and a callback target that cannot be judged is not accepted.
    """
    try:
        return await resolved(host)
    except Unreachable as e:
        detail = f"callback host: {e}; retry shortly"
        raise ApiError(503, "resolver-unavailable", detail, headers={"Retry-After": "5"}) from e


async def check_callback_url(field: str, url: str, allow_hosts: Collection[str]) -> None:
    """InvalidCommand(field) when the http(s) `url` (already validated) names a host that resolves to a
    loopback, private or link-local address and is not in `allow_hosts`."""
    host = HttpUrl(url).host or ""
    if normal_host(host) in allow_hosts:  # an allow-listed host needs no resolving
        return
    check_callback_target(field, host, await resolve(normal_host(host)), allow_hosts)
