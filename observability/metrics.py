"""Prometheus metrics more than one process counts (budget refusals), and serving /metrics on a port of its own."""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

BUDGET_REFUSALS = Counter(
    "agentlog_budget_refusals",
    "Token charges or messages refused because a persona's daily budget is spent, by where it was refused "
    "(api: a user message answered 429; conversation: a model call the worker could not reserve tokens for)",
    ["source"],
)


def serve_metrics(port: int) -> str:
    """Serve this process's metrics on 127.0.0.1:`port` (0: not at all); the URL, or "" when not served.

    Raises OSError when the port is taken."""
    if not port:
        return ""
    start_http_server(port, addr="127.0.0.1")
    return f"http://127.0.0.1:{port}/metrics"
