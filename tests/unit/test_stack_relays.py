"""The local stack runs AGENTLOG_RELAYS relay processes (one active, the others standing by), each named and ported."""

from __future__ import annotations

from stack.apps import RelayProcess, supervised
from stack.config import StackSettings


def test_several_relays_have_their_own_names_files_and_metrics_ports(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLOG_RELAYS", "3")
    apps = supervised(StackSettings(home=tmp_path / "home", cache=tmp_path / "cache"))
    relays = [app for app in apps if isinstance(app, RelayProcess)]

    assert [app.name for app in relays] == ["relay", "relay-2", "relay-3"]
    assert [app.environment()["AGENTLOG_RELAY_METRICS_PORT"] for app in relays] == ["19101", "19111", "19121"]
    ports = {port for app in apps for port in app.more_ports.values()}
    assert len(ports) == sum(len(app.more_ports) for app in apps), "no two processes share a metrics port"
    assert len({app.pid_file for app in relays} | {app.log_file for app in relays}) == 6
    assert all(app.command()[-1] == "relay" for app in relays)


def test_by_default_one_relay_runs(tmp_path):
    relays = [app for app in supervised(StackSettings(home=tmp_path)) if isinstance(app, RelayProcess)]

    assert [app.name for app in relays] == ["relay"]
