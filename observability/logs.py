"""One logging setup for every agentlog process: one handler, one line per record, text or JSON.

Each record carries its timestamp (UTC, ISO 8601), level, logger name and, when known, the request
id, tenant and trace id bound in `observability.context`. Records from our own loggers, uvicorn's and
the libraries' all go through the same handler, so nothing is printed twice and INFO is kept.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from structlog.typing import EventDict, Processor, WrappedLogger

from observability.context import current

# loggers that install handlers of their own (uvicorn's default config): theirs go, ours are used
ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
UVICORN_ACCESS = "uvicorn.access"  # off: the API's own request log (ACCESS) carries the request id and tenant
# libraries that log every HTTP call at INFO (the registry client, over httpx2, logs each schema lookup)
CHATTY = ("httpx", "httpcore", "httpx2", "httpcore2")
ACCESS = "agentlog.access"  # the API's request log, quiet unless log_requests


class LogSettings(BaseSettings):
    """AGENTLOG_LOG_FORMAT (text | json), AGENTLOG_LOG_LEVEL (DEBUG, INFO, WARNING, ERROR) and
    AGENTLOG_LOG_REQUESTS (a line per HTTP request the API answers)."""

    model_config = SettingsConfigDict(env_prefix="AGENTLOG_", extra="ignore")

    log_format: Literal["text", "json"] = Field(default="text", description="one line per record: text or JSON")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_requests: bool = Field(default=False, description="log each HTTP request: method, path, status, duration")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()


def configure_logging(settings: LogSettings | None = None, stream: TextIO | None = None) -> None:
    """Route every record of this process through one handler writing to `stream` (default stderr).

    Call it once at the start of each process; calling it again replaces the handler (no duplicates).
    """
    settings = settings or LogSettings()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(settings.log_format))
    handler.addFilter(OneTraceback())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ROUTED:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger(UVICORN_ACCESS).handlers.clear()
    logging.getLogger(UVICORN_ACCESS).propagate = False
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.getLogger(ACCESS).setLevel(logging.NOTSET if settings.log_requests else logging.WARNING)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*_pre_chain(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _add_context(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    for key, value in current().items():
        event.setdefault(key, value)
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    return event


def _pre_chain() -> list[Processor]:
    return [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _add_context,
    ]


def _formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    rendering: list[Processor]
    if fmt == "json":
        rendering = [
            structlog.processors.EventRenamer("message"),  # "event" would read as a domain event here
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
    else:
        rendering = [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )


class OneTraceback(logging.Filter):
    """A failure logged again further up keeps its message but not a second traceback.

    Starlette re-raises a request's exception after the API's handler logged it, so uvicorn would
    print the same traceback again; the exception is marked the first time it is logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        if failure is None:
            return True
        if getattr(failure, "_agentlog_logged", False):
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (traceback logged above)"
        else:
            with contextlib.suppress(AttributeError):  # an exception with __slots__ cannot be marked
                failure._agentlog_logged = True  # type: ignore[attr-defined]
        return True
