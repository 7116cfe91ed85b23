"""Where one callback attempt connects: the URL's host resolved now, judged by the domain's rule, then pinned.

The API judged the callback URL when the task was created, but a name can resolve elsewhere by
the time the task ends (DNS rebinding), so every attempt resolves the host again, judges the
addresses with the same rule (domain/delegation/callback.py) and connects to the address it
judged, not to whatever a second lookup would answer: the request goes to that IP with the
original Host header and, over https, the original name for SNI and certificate checks.
An allow-listed host is trusted by name and connected to as usual.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import httpx

from domain.delegation.callback import check_callback_target, normal_host
from observability.resolve import Unreachable, resolve


@dataclass(frozen=True)
class Target:
    """The request line and extras of one attempt: `url` names the judged address (or the allowed host)."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def pin(url: str, allow_hosts: Collection[str], setting: str, timeout: float) -> Target:
    """The target of an attempt to POST to `url`.

    Raises InvalidCommand("callback_url") when the host is not in `allow_hosts` and resolves to a
    loopback, private, link-local or otherwise non-public address (the refusal names `setting`),
    and Unreachable when it resolves to nothing now.
    """
    parsed = httpx.URL(url)
    host = normal_host(parsed.host)
    if host in allow_hosts:
        return Target(parsed)
    addresses = await resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80), timeout)
    check_callback_target("callback_url", host, addresses, allow_hosts, setting)
    if not addresses:
        raise Unreachable(f"{host!r} resolves to no address")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=addresses[0]), {"host": parsed.netloc.decode("ascii")}, extensions)
