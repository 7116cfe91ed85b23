"""http_fetch: GET a page from an allow-listed host, within size and time limits, never from inside the network.

Only hosts an operator listed (AGENTLOG_TOOLS_HTTP_ALLOW_HOSTS) may be fetched, and only at public
addresses: the host is resolved just before connecting, every address it resolves to is judged by
the same rule as delegation callbacks (domain/delegation/callback.py: loopback, private,
link-local and other non-public addresses are refused), and the request goes to the judged
address (with the Host header and, over https, SNI and the certificate check on the name), so a
second lookup cannot send it elsewhere (DNS rebinding). Hosts in AGENTLOG_TOOLS_HTTP_ALLOW_PRIVATE_HOSTS
may also be at private addresses (an internal service an operator chose to expose). Redirects are
not followed: the result says where it points. The body is read up to a byte limit and cut there.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from domain.delegation.callback import address_kind, normal_host
from observability.resolve import Unreachable, resolve
from workers.tools.builtin import text_argument
from workers.tools.registry import Call, ToolError


class HttpFetch:
    name = "http_fetch"
    description = "Fetches a web page (GET) from a host the operator allowed; returns status, type and text."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "an http or https URL"}},
        "required": ["url"],
    }

    def __init__(
        self,
        allow_hosts: Collection[str],
        allow_private_hosts: Collection[str] = (),
        max_bytes: int = 1_048_576,
        timeout: float = 10.0,
    ) -> None:
        self.allow_hosts = {normal_host(h) for h in allow_hosts}
        self.allow_private_hosts = {normal_host(h) for h in allow_private_hosts}
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def run(self, arguments: Mapping[str, Any], call: Call) -> dict[str, Any]:
        url = self._url(text_argument(arguments, "url") or "")
        host = normal_host(url.host)
        address = await self._address(host, url)
        target = url.copy_with(host=address) if address else url
        headers = {"host": url.netloc.decode("ascii"), "accept-encoding": "identity"}
        extensions = {"sni_hostname": url.host} if address and url.scheme == "https" else {}
        seconds = max(0.001, min(self.timeout, call.deadline - time.monotonic()))
        try:
            async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
                request = client.build_request("GET", target, headers=headers, extensions=extensions)
                response = await client.send(request, stream=True)
                try:
                    body, cut = await self._read(response)
                finally:
                    await response.aclose()
        except httpx.HTTPError as e:
            raise ToolError(f"fetching {url} failed: {type(e).__name__}: {e}") from None
        return {
            "url": str(url),
            "status": response.status_code,
            "content_type": response.headers.get("content-type", ""),
            "location": response.headers.get("location"),
            "text": body.decode(response.encoding or "utf-8", errors="replace"),
            "truncated": cut,
        }

    def _url(self, text: str) -> httpx.URL:
        try:
            url = httpx.URL(text)
        except httpx.InvalidURL as e:
            raise ToolError(f"not a URL: {text!r} ({e})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ToolError(f"only http and https URLs with a host can be fetched, not {text!r}")
        if normal_host(url.host) not in self.allow_hosts:
            allowed = ", ".join(sorted(self.allow_hosts)) or "none"
            raise ToolError(
                f"{url.host!r} is not an allowed host (allowed: {allowed}); "
                "an operator allows hosts with AGENTLOG_TOOLS_HTTP_ALLOW_HOSTS"
            )
        return url

    async def _address(self, host: str, url: httpx.URL) -> str | None:
        """The address to connect to, judged; None for a host allowed at private addresses (connected by name)."""
        if host in self.allow_private_hosts:
            return None
        addresses = await _resolve(host, url.port or (443 if url.scheme == "https" else 80))
        for address in addresses:
            kind = address_kind(address)
            if kind is not None:
                raise ToolError(
                    f"{host!r} resolves to {address}, a {kind} address: http_fetch reaches public addresses only "
                    "(an operator can allow a host at a private address with AGENTLOG_TOOLS_HTTP_ALLOW_PRIVATE_HOSTS)"
                )
        return addresses[0]

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                return bytes(body[: self.max_bytes]), True
        return bytes(body), False


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now, in the resolver's order; ToolError when none or the resolver fails."""
    try:
        addresses = await resolve(host, port)
    except Unreachable as e:
        raise ToolError(str(e)) from None
    if not addresses:
        raise ToolError(f"{host!r} resolves to no address")
    return addresses
