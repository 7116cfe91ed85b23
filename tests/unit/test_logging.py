"""The one logging setup: settings fail fast, records carry their context, a failure's traceback is printed once."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from observability import LogSettings, bound, configure_logging, current, request_id_from, trace_id_of, traceparent_from

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def text_logs(monkeypatch) -> Iterator[io.StringIO]:
    """Records as text lines (the settings in any case, as an operator may write them)."""
    monkeypatch.setenv("AGENTLOG_LOG_FORMAT", "TEXT")
    monkeypatch.setenv("AGENTLOG_LOG_LEVEL", "debug")
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(LogSettings(), stream=stream)
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(("name", "value"), [("AGENTLOG_LOG_FORMAT", "xml"), ("AGENTLOG_LOG_LEVEL", "LOUD")])
def test_a_bad_log_setting_is_refused_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.removeprefix("AGENTLOG_").lower()):
        LogSettings()


@pytest.mark.parametrize(
    ("header", "trace_id"),
    [
        (f"00-{TRACE}-00f067aa0ba902b7-01", TRACE),
        (f" 00-{TRACE}-00f067aa0ba902b7-00 ", TRACE),
        (f"01-{TRACE}-00f067aa0ba902b7-01-future", TRACE),  # later versions may add fields
        (f"00-{TRACE}-00f067aa0ba902b7-01-extra", None),  # version 00 has four
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-01", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_the_trace_id_comes_only_from_a_w3c_traceparent(header, trace_id):
    assert trace_id_of(header) == trace_id
    flags = header.strip().split("-")[3] if trace_id else ""
    assert traceparent_from(header) == (f"00-{trace_id}-00f067aa0ba902b7-{flags}" if trace_id else None)


def test_a_request_id_is_kept_when_plain_else_made():
    assert request_id_from("abc-123_x.y") == "abc-123_x.y"
    made = request_id_from("two words")
    assert len(made) == 32 and made != request_id_from("two words")


def test_a_text_line_has_time_level_logger_message_and_context(text_logs):
    with bound(request_id="r1", tenant="acme"):
        assert current() == {"request_id": "r1", "tenant": "acme"}
        logging.getLogger("agentlog.relay").info("published %d", 5)
    assert current() == {}

    [line] = text_logs.getvalue().splitlines()
    assert line.startswith("20") and "Z [info" in line
    assert "published 5" in line and "[agentlog.relay]" in line
    assert "request_id=r1" in line and "tenant=acme" in line


def test_a_failure_logged_again_further_up_shows_its_traceback_once(text_logs):
    try:
        raise RuntimeError("the cause")
    except RuntimeError as e:
        logging.getLogger("agentlog.api").exception("unhandled error")
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=e)

    output = text_logs.getvalue()
    assert output.count("Traceback (most recent call last)") == 1
    assert output.count("RuntimeError: the cause") == 1
    assert "Exception in ASGI application (traceback logged above)" in output


def test_setting_up_twice_keeps_one_handler(text_logs):
    configure_logging(LogSettings(), stream=text_logs)
    logging.getLogger("uvicorn.error").warning("once")

    assert text_logs.getvalue().count("once") == 1
    assert len(logging.getLogger().handlers) == 1
