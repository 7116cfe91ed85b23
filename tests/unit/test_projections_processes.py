"""The local stack runs AGENTLOG_PROJECTIONS_PROCESSES projections processes, each under its own name and port."""

from __future__ import annotations

from stack.apps import ProjectionsProcess, supervised
from stack.config import StackSettings


def settings(tmp_path, **more) -> StackSettings:
    return StackSettings(home=tmp_path / "home", cache=tmp_path / "cache", **more)


def test_by_default_one_projections_process_runs_as_before(tmp_path):
    [projections] = [app for app in supervised(settings(tmp_path)) if isinstance(app, ProjectionsProcess)]

    assert projections.name == "projections"
    assert projections.environment()["AGENTLOG_PROJECTIONS_METRICS_PORT"] == "19100"


def test_several_processes_have_their_own_names_files_and_metrics_ports(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLOG_PROJECTIONS_PROCESSES", "3")
    apps = supervised(settings(tmp_path))
    projections = [app for app in apps if isinstance(app, ProjectionsProcess)]

    assert [app.name for app in projections] == ["projections", "projections-2", "projections-3"]
    assert len({app.name for app in apps}) == len(apps)  # the supervisor keeps one record per name
    ports = [app.environment()["AGENTLOG_PROJECTIONS_METRICS_PORT"] for app in projections]
    assert ports == ["19100", "19110", "19120"]
    assert [app.more_ports["PROJECTIONS_METRICS"] for app in projections] == [19100, 19110, 19120]
    assert len({app.pid_file for app in projections} | {app.log_file for app in projections}) == 6
    assert all(app.command()[-2:] == ["projections", "run"] for app in projections)
