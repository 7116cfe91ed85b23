"""Every metric the alert rules and the Grafana dashboard query is exposed by the real processes' /metrics, and the
RED metrics of the API, the workers, the tools and the relay count what happened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from observability.http import tls
from tests.support.conversation import post, wait_for_reply
from tests.support.metric_names import exposed, queried
from tests.support.processes import until
from tests.support.runtime import Runtime, running_runtime
from tests.support.tools import allowing

pytestmark = pytest.mark.e2e

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
Families = dict[str, list[tuple[str, dict[str, str], float]]]


@pytest.fixture(scope="module")
def runtime(servers, registry, tmp_path_factory) -> Iterator[Runtime]:
    with running_runtime(servers, registry, tmp_path_factory.mktemp("metrics")) as runtime:
        yield runtime


def scrape(runtime: Runtime) -> dict[str, Families]:
    """Each process's agentlog families, read from its own /metrics port."""
    return {name: exposed(httpx.get(url, timeout=10, verify=tls()).text) for name, url in runtime.metrics.items()}


def value(families: Families, sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 when there are none)."""
    return sum(
        v for family in families.values() for n, got, v in family if n == sample and labels.items() <= got.items()
    )


def test_every_metric_the_alerts_and_the_dashboard_query_is_exposed_by_a_running_process(runtime: Runtime):
    pages = scrape(runtime)
    assert set(pages) == {"api", "relay", "projections", "conversation", "tools", "delegation"}
    served = {name for families in pages.values() for name in families}
    missing = {name: sorted(where) for name, where in queried().items() if name not in served}
    assert not missing, f"queried but exposed by no process: {missing}"


def test_each_process_counts_its_own_work_on_its_own_port(runtime: Runtime):
    tenant, key = runtime.tenant("admin", policy=allowing("echo"))
    with httpx.Client(base_url=runtime.url, timeout=10) as client:
        message = post(client, key, "hello")
        assert message.status_code == 202, message.text
        wait_for_reply(client, key, str(message.json()["session_id"]))
        invoked = client.post("/v1/tools/echo/invocations", json={"arguments": {"text": "hi"}}, headers=key)
        assert invoked.status_code == 202, invoked.text
        denied = client.post("/v1/tools/calculator/invocations", json={"arguments": {}}, headers=key)
        assert denied.status_code == 202, denied.text
        zero = client.put(f"/v1/budgets/{tenant}/limits", json={"daily_tokens": 0, "persona_id": "frugal"}, headers=key)
        assert zero.status_code == 200, zero.text
        refused = post(client, key, "hello?", persona_id="frugal")
        assert refused.status_code == 429, refused.text

    def counted() -> dict[str, Families] | None:
        pages = scrape(runtime)
        tools, views = pages["tools"], pages["projections"]
        done = value(tools, "agentlog_tool_outcomes_total", tool="echo", outcome="completed") >= 1
        done = done and value(tools, "agentlog_tool_decisions_total", verdict="deny") >= 1
        applied = value(views, "agentlog_projection_events_total", projection="sessions", outcome="applied") >= 2
        return pages if done and applied else None

    pages = until(counted, "the tool executor counting the echo run and the denial, the views what they applied", 60)
    assert_red(pages)


def assert_red(pages: dict[str, Any]) -> None:
    api, relay, conversation, tools = pages["api"], pages["relay"], pages["conversation"], pages["tools"]
    route = "/v1/session/message"
    assert value(api, "agentlog_http_requests_total", route=route, status="202") >= 1
    assert value(api, "agentlog_http_requests_total", route=route, status="429") >= 1
    assert value(api, "agentlog_http_request_duration_seconds_count", route=route) >= 2
    routes = {labels["route"] for _, labels, _ in api["agentlog_http_requests"]}
    assert not {r for r in routes if UUID.search(r)}, f"raw paths as route labels: {routes}"  # templates only
    assert value(api, "agentlog_budget_refusals_total", source="api") >= 1
    assert value(api, "agentlog_dependency_up", dependency="postgres") == 1
    assert value(relay, "agentlog_relay_published_events_total") >= 4
    assert "agentlog_relay_lag_seconds" in relay
    assert value(conversation, "agentlog_worker_events_total", worker="conversation", outcome="handled") >= 1
    assert value(conversation, "agentlog_worker_event_duration_seconds_count", worker="conversation") >= 1
    assert value(tools, "agentlog_tool_run_duration_seconds_count", tool="echo") >= 1
    assert value(tools, "agentlog_tool_outcomes_total", tool="calculator") == 0  # denied: never run
    assert (
        value(pages["projections"], "agentlog_projection_events_total", projection="sessions", outcome="applied") >= 2
    )
