"""The supervised tool executor: `agentlog worker tools` with the shipped policies, unless the operator names others."""

from __future__ import annotations

from pathlib import Path

from stack.apps import SUPERVISED, ToolsProcess
from stack.config import StackSettings

POLICIES = Path(__file__).parents[4] / "policies"


def test_the_stack_runs_the_tool_worker_with_the_shipped_policies(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTLOG_TOOLS_POLICY_DIR", raising=False)
    app = ToolsProcess(StackSettings(home=tmp_path / "home", cache=tmp_path / "cache"))

    assert ToolsProcess in SUPERVISED
    assert app.command()[-2:] == ["worker", "tools"]
    assert Path(app.environment()["AGENTLOG_TOOLS_POLICY_DIR"]) == POLICIES
    assert (POLICIES / "default.rego").is_file()


def test_the_operators_policy_folder_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLOG_TOOLS_POLICY_DIR", str(tmp_path))
    app = ToolsProcess(StackSettings(home=tmp_path / "home", cache=tmp_path / "cache"))

    assert app.environment()["AGENTLOG_TOOLS_POLICY_DIR"] == str(tmp_path)
