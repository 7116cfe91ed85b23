"""Free ports for servers started on a machine that is busy with other work (tests in parallel, clients)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive ports nothing listens on, below the kernel's range of ports for outgoing
    connections: a port in that range (the kernel's own pick for a bind to port 0 included) may be given to any
    client's connection between this check and the server binding it, which then fails on `Address already in use`
    (seen on CI with four test workers and their Kafka clients)."""
    outgoing = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        first = random.randrange(LOWEST, outgoing - count)  # noqa: S311 (no secret: spreads parallel tests apart)
        if all(_bindable(port) for port in range(first, first + count)):
            return first


def free_port() -> int:
    return free_ports(1)
