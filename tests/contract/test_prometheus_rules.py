"""The alert rules, their unit tests and the scrape config, checked by promtool (Debian's `prometheus` package)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.debian import PROMTOOL, debian_tool

pytestmark = pytest.mark.contract

PROMETHEUS = Path(__file__).resolve().parents[2] / "observability" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool in the rules' folder (installed on first use; never skipped)."""
    found = debian_tool(PROMTOOL)
    return subprocess.run([found, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False)


def test_the_alert_rules_are_valid_promql_and_name_twelve_alerts():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 12 rules found" in checked.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test():
    rules = (PROMETHEUS / "alerts.yml").read_text()
    tests = (PROMETHEUS / "alerts_test.yml").read_text()
    names = {line.split(":", 1)[1].strip() for line in rules.splitlines() if line.strip().startswith("- alert:")}
    untested = {name for name in names if f"alertname: {name}\n" not in tests}
    assert len(names) == 12 and not untested, f"alerts without a test in alerts_test.yml: {sorted(untested)}"


def test_the_scrape_config_of_the_local_stack_is_valid_and_loads_the_rules():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
