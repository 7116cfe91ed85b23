"""The one rule for every reader that trails the event store (the relay, a view, a worker): when it lags."""

from __future__ import annotations

STALE_SECONDS = 10.0  # a reader whose oldest waiting event is older than this is not keeping up


def freshness(seconds_behind: float) -> str:
    """degraded when the oldest event not taken yet has waited more than STALE_SECONDS, else ok."""
    return "degraded" if seconds_behind > STALE_SECONDS else "ok"


def unmeasured(e: Exception) -> str:
    """What a reader's health says when its progress could not be measured: the error's kind and words."""
    return f"cannot measure its progress: {type(e).__name__}: {e}"[:300]
