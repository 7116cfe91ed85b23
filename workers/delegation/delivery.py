"""Delivering one callback: signed POSTs with retries and exponential backoff until an answer settles it.

What settles an attempt:
- a 2xx answer: delivered;
- 408, 429, any 5xx, a timeout, a connection error or a host that does not resolve now: tried
  again after a growing, jittered wait (a Retry-After of 429/503 is honoured up to the longest
  wait), until the attempts run out;
- any other answer (3xx: redirects are never followed, as they could lead anywhere; 4xx), or a
  target the callback rule refuses: given up at once.
Each attempt is bounded by its own timeout, so a callback whose receiver is down occupies one of
the worker's concurrent slots for at most about attempts x (timeout + longest wait).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import stamina
from standardwebhooks import Webhook

from domain.errors import InvalidCommand
from observability.resolve import Unreachable
from workers.delegation.message import CallbackMessage, signed_headers
from workers.delegation.settings import ALLOW_HOSTS_SETTING, DelegationSettings
from workers.delegation.target import pin

log = logging.getLogger("agentlog.workers.delegation")
RETRIED_STATUS = frozenset({408, 429})


class Retryable(Exception):
    """An attempt failed in a way another attempt may not: `retry_after` is the receiver's wish, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class GiveUp(Exception):
    """An attempt failed in a way no other attempt would change (a refused target, a 4xx, a redirect)."""


@dataclass(frozen=True)
class Outcome:
    """How a callback ended: delivered with a 2xx `status_code`, or not, with the last `error`."""

    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str = ""


class Sender:
    """Sends callback messages with `client` (no redirects, no pooled connections), signed by `webhook`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        webhook: Webhook,
        settings: DelegationSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.webhook = webhook
        self.settings = settings
        self.clock = clock

    async def deliver(self, message: CallbackMessage) -> Outcome:
        """Try until delivered, given up, or out of attempts; never raises for the receiver's failures."""
        s = self.settings
        attempts = 0
        try:
            async for attempt in stamina.retry_context(
                on=self._wait_hint,
                attempts=s.worker_callback_attempts,
                timeout=None,
                wait_initial=s.worker_callback_wait_initial,
                wait_max=s.worker_callback_wait_max,
                wait_jitter=min(1.0, s.worker_callback_wait_initial),
            ):
                with attempt:
                    attempts = attempt.num
                    status = await self.attempt(message)
        except (Retryable, GiveUp) as e:
            log.warning(
                "callback %s to %s failed after %d attempt(s): %s", message.webhook_id, message.url, attempts, e
            )
            return Outcome(False, attempts, error=str(e))
        return Outcome(True, attempts, status_code=status)

    async def attempt(self, message: CallbackMessage) -> int:
        """POST once (within the per-attempt timeout): the 2xx status, else Retryable or GiveUp."""
        timeout = self.settings.worker_callback_timeout
        try:
            async with asyncio.timeout(timeout):
                target = await pin(message.url, self.settings.worker_callback_allow_hosts, ALLOW_HOSTS_SETTING, timeout)
                headers = {**signed_headers(self.webhook, message, self.clock()), **target.headers}
                request = self.client.build_request(
                    "POST", target.url, content=message.body.encode(), headers=headers, extensions=target.extensions
                )
                response = await self.client.send(request, stream=True)  # the answer's body is never read
                await response.aclose()
        except InvalidCommand as e:
            raise GiveUp(f"refused target: {e.reason}") from e
        except Unreachable as e:
            raise Retryable(str(e)) from e
        except (TimeoutError, httpx.TimeoutException) as e:
            raise Retryable(f"no answer within {timeout:g} s") from e
        except httpx.TransportError as e:
            raise Retryable(f"cannot connect: {e or type(e).__name__}") from e
        return _settle(response)

    def _wait_hint(self, e: Exception) -> bool | float:
        """stamina's hook: retry a Retryable, after the receiver's Retry-After when it gave one."""
        if not isinstance(e, Retryable):
            return False
        if e.retry_after is None:
            return True
        return min(e.retry_after, self.settings.worker_callback_wait_max)


def _settle(response: httpx.Response) -> int:
    code = response.status_code
    if 200 <= code < 300:
        return code
    if code in RETRIED_STATUS or code >= 500:
        raise Retryable(f"answered {code}", _retry_after(response.headers.get("retry-after")))
    if 300 <= code < 400:
        raise GiveUp(f"answered {code} (redirects are not followed)")
    raise GiveUp(f"answered {code}")


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored: the usual backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
