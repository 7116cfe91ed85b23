"""What the long-running commands (relay, projections, workers) share: stop on a signal, report progress, serve
/metrics."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from cli.console import out
from cli.errors import CliError, Exit
from observability.metrics import serve_metrics

T = TypeVar("T")


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-running command's coroutine to its end on uvloop (as uvicorn runs the API): the same asyncio,
    with less CPU per callback and per socket read than the standard loop. What start-up built (modules, settings,
    codecs, views) lives as long as the process: it is frozen out of the collector's full passes, which otherwise
    walk it again and again and stall the loop for milliseconds under load (api/app.py does the same)."""
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or Ctrl-C, so the command can finish its batch and exit cleanly."""
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    return stop


async def report_progress(count: Callable[[], int], verb: str, stop: asyncio.Event, every: float = 10.0) -> None:
    """Print `<verb> N (rate/s)` every `every` seconds until `stop` is set."""
    last, since = 0, time.monotonic()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            done, now = count(), time.monotonic()
            out.print(f"{verb} {done} ({(done - last) / (now - since):.0f}/s)")
            last, since = done, now


def metrics_served(port: int, setting: str) -> str:
    """Serve /metrics on `port` (0: not at all): "; metrics on URL" for the ready line, or a usage error naming
    the setting when the port is taken."""
    try:
        url = serve_metrics(port)
    except OSError as e:
        fix = f"set {setting} to a free port, or 0 for none"
        raise CliError(f"cannot serve metrics on port {port}: {e.strerror}", fix, Exit.USAGE) from e
    return f"; metrics on {url}" if url else ""
