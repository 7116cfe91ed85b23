"""One TLS context per process for short-lived HTTP clients (health probes, registry calls, test clients).

httpx builds a TLS context for every client it makes, `httpx.get` included, loading certifi's CA bundle each
time: about 45 ms of CPU, even for a plain http:// URL. A probe polled every 100 ms spent most of its time
there. Pass `verify=tls()` instead: the context is made once and shared (it verifies as httpx's default does).
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, hostnames checked), made once."""
    return httpx.create_ssl_context()
