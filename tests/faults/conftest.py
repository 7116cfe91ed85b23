"""The fault tier: faults injected into the running stack while writers post through its API."""

from __future__ import annotations

import json
from typing import Any

import pytest

REPORT: dict[str, Any] = {}


@pytest.fixture
def report() -> dict[str, Any]:
    """Figures a fault test wants shown at the end of the run (and saved beside the stack's logs)."""
    return REPORT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("fault tier")
        terminalreporter.write_line(json.dumps(REPORT, indent=1))
