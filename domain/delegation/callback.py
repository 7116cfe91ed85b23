"""Where a task's outcome may be sent: public addresses only, unless an operator allow-listed the host.

A callback is a request the platform makes on a client's behalf, so a callback URL naming the
cloud metadata service (169.254.169.254), loopback or the private network would let any tenant
reach what sits behind the platform's firewall (server-side request forgery). The rule is
judged on the addresses the host resolves to: the API checks it when a task is created, and
whatever delivers callbacks must check it again just before connecting (a name can resolve
elsewhere by then), with the same function.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable

from domain.errors import InvalidCommand

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# the first kind an address is of names the refusal; anything else not globally routable is "reserved"
KINDS: tuple[tuple[str, Callable[[IP], bool]], ...] = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("private", lambda ip: ip.is_private),
    ("reserved", lambda ip: not ip.is_global),
)


def normal_host(host: str) -> str:
    """A host as the allow-list compares it: lower case, no IPv6 brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def address_kind(address: str) -> str | None:
    """Why a callback to this IP address is refused ("loopback", "private", ...), or None when it is public.

    An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is.
    """
    ip: IP = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return next((kind for kind, test in KINDS if test(ip)), None)


def check_callback_target(
    field: str,
    host: str,
    addresses: Iterable[str],
    allow_hosts: Collection[str],
    setting: str = "AGENTLOG_API_CALLBACK_ALLOW_HOSTS",
) -> None:
    """Raise InvalidCommand(field) when `host` is not in `allow_hosts` (normal_host form) and any of
    `addresses`, the ones it resolves to, is loopback, private, link-local or otherwise not public;
    the refusal names `setting`, the allow-list of the process that judged.

    A host that resolves to nothing passes: nothing can be judged, and delivery checks again.
    """
    if normal_host(host) in allow_hosts:
        return
    for address in addresses:
        kind = address_kind(address)
        if kind is not None:
            resolved = "" if normal_host(host) == normal_host(address) else f" (it resolves to {address})"
            raise InvalidCommand(
                field,
                f"callbacks to {kind} addresses are refused: {host!r}{resolved} is not a public address; "
                f"an operator can allow the host with {setting}",
            )
