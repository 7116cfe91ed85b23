"""`agentlog projections run` as an operator runs it: metrics served, a clean stop, clear refusals."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import httpx

from observability.http import tls
from stack.ports import free_port
from tests.support.cli import AGENTLOG, agentlog, child_env


def scrape(port: int, wanted: str, timeout: float = 30.0) -> str:
    """The /metrics page once it shows `wanted`."""
    deadline = time.monotonic() + timeout
    page = ""
    while time.monotonic() < deadline:
        try:
            page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2, verify=tls()).text
        except httpx.TransportError:
            page = ""
        if wanted in page:
            return page
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} never appeared on /metrics:\n{page[-2000:]}")


def test_run_serves_prometheus_metrics_and_stops_cleanly_on_sigterm(servers, codec, redis_prefix):
    port = free_port()
    env = {
        **servers.as_env(),
        "AGENTLOG_TOPIC_PREFIX": codec.routing.prefix,
        "AGENTLOG_REDIS_PREFIX": redis_prefix,
        "AGENTLOG_PROJECTIONS_METRICS_PORT": str(port),
    }
    child = subprocess.Popen(
        [str(AGENTLOG), "projections", "run", "sessions", "tools"],
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        scrape(port, 'agentlog_projection_key_version{projection="tools"} 1.0')
        # each view publishes its metrics once its first batch is in: sessions may have a backlog to fold first
        page = scrape(port, 'agentlog_projection_lag_events{projection="sessions"}')
        assert 'agentlog_projection_events_total{outcome="applied",projection="sessions"}' in page
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert f"projections running: sessions, tools; metrics on http://127.0.0.1:{port}/metrics" in out
    assert "projections stopped after applying" in out


def test_a_taken_metrics_port_is_refused_naming_the_setting(servers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = agentlog("projections", "run", env={**servers.as_env(), "AGENTLOG_PROJECTIONS_METRICS_PORT": str(port)})
    assert done.returncode == 2
    assert f"cannot serve metrics on port {port}" in done.stderr
    assert "AGENTLOG_PROJECTIONS_METRICS_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_projection_is_named_with_the_choices():
    done = agentlog("projections", "run", "transcript", "gossip")
    assert done.returncode == 2
    assert "unknown view(s) gossip" in done.stderr
    assert "transcript, sessions, tools, budgets, delegation, model_profiles" in done.stderr
