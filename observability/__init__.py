"""What every agentlog process shares about itself: its log setup and the context each record carries."""

from observability.context import bind, bound, current, request_id_from, trace_id_of, traceparent_from, unbind
from observability.logs import LogSettings, configure_logging

__all__ = [
    "LogSettings",
    "bind",
    "bound",
    "configure_logging",
    "current",
    "request_id_from",
    "trace_id_of",
    "traceparent_from",
    "unbind",
]
