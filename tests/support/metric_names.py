"""The metric names the alert rules and the Grafana dashboard query, and the families a /metrics page exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"
NAME = re.compile(r"\bagentlog_[a-z0-9_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def family(sample: str) -> str:
    """The family a sample name belongs to: `agentlog_http_requests_total` -> `agentlog_http_requests`."""
    for suffix in SUFFIXES:
        if sample.endswith(suffix):
            return sample[: -len(suffix)]
    return sample


def queried() -> dict[str, set[str]]:
    """Each family the alert rules (expressions and annotations) or the dashboard query, with where."""
    found: dict[str, set[str]] = {}
    rules = (OBSERVABILITY / "prometheus" / "alerts.yml").read_text().splitlines()
    alert = ""
    for line in (line for line in rules if not line.lstrip().startswith("#")):
        alert = line.split(":", 1)[1].strip() if line.strip().startswith("- alert:") else alert
        for name in NAME.findall(line):  # in an expression or an annotation: either way it must exist
            found.setdefault(family(name), set()).add(f"alert {alert}")
    dashboard = json.loads((OBSERVABILITY / "grafana" / "agentlog.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for name in NAME.findall(target["expr"]):
                found.setdefault(family(name), set()).add(f"panel {panel['title']!r}")
    return found


def exposed(page: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """The agentlog families of a /metrics page, each with its samples (name, labels, value)."""
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(page)
        if f.name.startswith("agentlog_")
    }
