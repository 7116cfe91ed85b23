"""The web console in a real browser (Debian's chromium, headless, driven by Playwright) against every agentlog
process on the real servers: sign in, chat with a reply streaming in, approve a tool, read a timeline, travel
in time, fork, follow a trace, read the operations page. Every page is screenshotted and must log no error."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Error, Page, expect, sync_playwright

from tests.support.debian import CHROMIUM, debian_tool
from tests.support.processes import until
from tests.support.runtime import Runtime, running_runtime
from tests.support.tools import allowing

pytestmark = pytest.mark.e2e

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
WAIT_MS = 30_000  # a reply goes through the relay, Kafka, the worker and a view: seconds on a busy machine


@pytest.fixture(scope="module")
def runtime(servers, registry, tmp_path_factory) -> Iterator[Runtime]:
    with running_runtime(servers, registry, tmp_path_factory.mktemp("console")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = debian_tool(CHROMIUM)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: `AGENTLOG_CONSOLE_SCREENSHOTS` (`just console-screenshots` points it at docs/console)."""
    folder = os.environ.get("AGENTLOG_CONSOLE_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


class Console:
    """A browser tab on the console that records every error the page logs or throws."""

    def __init__(self, page: Page, url: str, shots: Path) -> None:
        self.page, self.url, self.shots = page, url, shots
        self.errors: list[str] = []
        page.on("console", self._logged)
        page.on("pageerror", self._thrown)
        page.on("dialog", self._dialog)

    def _logged(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _thrown(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error}")

    def _dialog(self, dialog: Dialog) -> None:
        self.errors.append(f"dialog opened: {dialog.message}")

    def sign_in(self, key: str) -> None:
        self.page.goto(f"{self.url}/console")
        self.page.get_by_label("API key or token").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("link", name="Sessions")).to_be_visible()

    def shoot(self, name: str) -> None:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        assert path.stat().st_size > 10_000, f"{path} looks empty"


@pytest.fixture
def console(browser: Browser, runtime: Runtime, shots: Path) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    tab = Console(context.new_page(), runtime.url, shots)
    yield tab
    context.close()
    assert tab.errors == [], tab.errors  # a page that logs an error is broken even when it looks right


def key_of(headers: dict[str, str]) -> str:
    return headers["X-API-Key"]


def tenant(runtime: Runtime, *scopes: str, policy: str | None = None) -> dict[str, str]:
    """A new tenant's key headers, made on a thread of its own: Playwright's loop runs on this one."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(runtime.tenant, *scopes, policy=policy).result()[1]


def send(console: Console, text: str) -> str:
    """Type and send a message; the session's id once the page moved to it."""
    console.page.get_by_label("message").fill(text)
    console.page.get_by_role("button", name="Send").click()
    console.page.wait_for_url(re.compile(rf"#/chat/{UUID}$"))
    return console.page.url.rsplit("/", 1)[1]


def test_a_person_signs_in_sends_a_message_and_sees_the_reply_and_its_tool_call(console, runtime):
    headers = tenant(runtime, "admin", policy=allowing("calculator"))
    console.sign_in(key_of(headers))
    page = console.page
    send(console, "Calculate 2 + 2")
    transcript = page.locator(".transcript")
    expect(transcript.locator("li.user")).to_contain_text("Calculate 2 + 2", timeout=WAIT_MS)
    expect(transcript.locator("li.assistant")).to_have_text(re.compile("2 \\+ 2 = 4"), timeout=WAIT_MS)
    tool = page.locator("article.tool")
    expect(tool).to_contain_text("calculator", timeout=WAIT_MS)
    expect(tool.locator(".badge")).to_have_text("completed", timeout=WAIT_MS)
    expect(tool).to_contain_text('"expression"')
    console.shoot("chat")
    # the key is in this tab's sessionStorage only: not in the URL, not in storage that outlives the tab
    assert key_of(headers) not in page.url
    assert page.evaluate("Object.keys(localStorage).length") == 0
    assert key_of(headers) in page.evaluate("JSON.stringify(sessionStorage)")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key or token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_tool_awaiting_approval_is_approved_in_the_chat_and_the_reply_follows(console, runtime):
    headers = tenant(runtime, "approve", policy=allowing("calculator", approve=("echo",)))
    console.sign_in(key_of(headers))
    send(console, "echo ship it")
    tool = console.page.locator("article.tool")
    expect(tool.locator(".badge")).to_have_text("awaiting_approval", timeout=WAIT_MS)
    console.shoot("approval")
    tool.get_by_role("button", name="Approve").click()
    expect(tool.locator(".badge")).to_have_text("completed", timeout=WAIT_MS)
    expect(console.page.locator(".transcript li.assistant")).to_have_text(re.compile("ship it"), timeout=WAIT_MS)


def test_text_from_users_is_shown_as_text_and_never_runs(console, runtime):
    headers = tenant(runtime, "admin")
    console.sign_in(key_of(headers))
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    send(console, hostile)
    expect(console.page.locator(".transcript li.user .text")).to_have_text(hostile, timeout=WAIT_MS)
    assert console.page.locator(".transcript img, .transcript script").count() == 0  # and no dialog opened


def test_a_wrong_key_is_refused_with_the_apis_reason(console, runtime):
    console.page.goto(f"{runtime.url}/console")
    console.page.get_by_label("API key or token").fill("alk_not-a-real-key")
    with console.page.expect_response(lambda r: r.status == 401):
        console.page.get_by_role("button", name="Sign in").click()
    expect(console.page.get_by_role("alert")).to_be_visible()
    console.errors = [e for e in console.errors if "401" not in e]  # the browser logs the refused request itself
    assert console.page.evaluate("sessionStorage.length") == 0


def test_the_sessions_page_lists_the_tenants_sessions_and_finds_one_by_id(console, runtime):
    headers = tenant(runtime, "admin")
    ids = [
        httpx.post(f"{runtime.url}/v1/session/message", json={"message": f"hello {n}"}, headers=headers).json()[
            "session_id"
        ]
        for n in range(3)
    ]
    listed = until(lambda: answered(runtime.url, headers, len(ids)), "every session answered")
    assert sorted(listed) == sorted(ids)
    console.sign_in(key_of(headers))
    console.page.get_by_role("link", name="Sessions").click()
    rows = console.page.locator("tr[data-session]")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    assert [rows.nth(n).get_attribute("data-session") for n in range(3)] == listed  # most recently active first
    console.shoot("sessions")
    console.page.get_by_label("session id").fill("not-an-id")
    console.page.get_by_role("button", name="Open").click()
    expect(console.page.locator(".error")).to_contain_text('"not-an-id" is not a session id')
    console.page.get_by_label("session id").fill(ids[0])
    console.page.get_by_role("button", name="Open").click()
    console.page.wait_for_url(f"**#/sessions/{ids[0]}")


def answered(url: str, headers: dict[str, str], count: int) -> list[str] | None:
    """The ids of the tenant's sessions in the API's order once all `count` have their reply (a reply moves a
    session up the list), else None."""
    items = httpx.get(f"{url}/v1/sessions", headers=headers).json()["items"]
    return [s["session_id"] for s in items] if len(items) == count and all(s["messages"] == 2 for s in items) else None


def test_the_timeline_shows_each_event_travels_in_time_forks_and_opens_the_trace(console, runtime):
    headers = tenant(runtime, "admin")
    console.sign_in(key_of(headers))
    session = send(console, "Summarize the Q3 report")
    expect(console.page.locator(".transcript li.assistant")).to_have_count(1, timeout=WAIT_MS)
    console.page.goto(f"{runtime.url}/console#/sessions/{session}")
    rows = console.page.locator("tr[data-version]")
    expect(rows.first).to_be_visible()
    events = httpx.get(f"{runtime.url}/v1/sessions/{session}/events", headers=headers).json()
    expect(rows).to_have_count(len(events))
    for row, event in zip(rows.all(), events, strict=True):  # in stream order, with what the store holds
        assert row.get_attribute("data-version") == str(event["version"])
        cells = row.locator("td")
        assert cells.nth(1).inner_text() == str(event["position"])
        assert cells.nth(2).inner_text() == event["event_type"].rsplit(".", 1)[1]
        assert cells.nth(3).inner_text() == f"#{event['schema_id']} v{event['schema_version']}"
    reply = rows.filter(has_text="MessagePosted").last
    expect(reply.locator("td").nth(5)).to_have_text(re.compile(r"^v\d+$"))  # caused by the question's event
    console.shoot("timeline")

    rows.nth(1).get_by_role("button", name="State here").click()
    state = console.page.locator(".state")
    expect(state).to_contain_text("The session at version 2")
    expect(state).to_contain_text('"messages": 1')

    rows.nth(1).get_by_role("button", name="Fork here").click()
    console.page.wait_for_url(re.compile(rf"#/sessions/(?!{session}){UUID}$"))
    forked = console.page.url.rsplit("/", 1)[1]
    expect(console.page.locator("tr[data-version]").first).to_contain_text("SessionStarted")
    copy = httpx.get(f"{runtime.url}/v1/sessions/{forked}/events", headers=headers).json()
    assert copy[0]["data"]["forked_from"] == {"session_id": session, "version": 2}

    trace = traced(runtime.url, headers, events[1]["traceparent"].split("-")[1])
    console.page.goto(f"{runtime.url}/console#/sessions/{session}")
    console.page.locator("tr[data-version]").nth(1).locator("td").nth(6).get_by_role("link").click()
    spans = console.page.locator(".waterfall .span")
    expect(spans).to_have_count(len(trace["spans"]), timeout=WAIT_MS)
    assert [span.get_attribute("data-span") for span in spans.all()] == [s["span_id"] for s in trace["spans"]]
    expect(spans.first).to_contain_text("POST /v1/session/message")
    console.shoot("trace")


def traced(url: str, headers: dict[str, str], trace_id: str) -> dict:
    """The trace once every process's spans reached the span store (each sends them in batches as they end)."""

    def joined() -> dict | None:
        found = httpx.get(f"{url}/v1/traces/{trace_id}", headers=headers)
        trace = found.json() if found.status_code == 200 else {"spans": []}
        services = {span["service"] for span in trace["spans"]}
        return trace if {"agentlog-api", "agentlog-relay", "agentlog-worker-conversation"} <= services else None

    return until(joined, f"trace {trace_id} with the API's, the relay's and the worker's spans", timeout=30)


def test_the_operations_page_shows_freshness_dead_letters_processes_and_budgets(console, runtime):
    headers = tenant(runtime, "admin", "platform-admin")
    httpx.post(f"{runtime.url}/v1/session/message", json={"message": "Calculate 1 + 1"}, headers=headers)
    console.sign_in(key_of(headers))
    console.page.get_by_role("link", name="Operations").click()
    health = console.page.locator("#health")
    expect(health).to_contain_text("relay")
    expect(health).to_contain_text("view:sessions")
    expect(console.page.locator("#dead-letters")).to_contain_text("none")
    expect(console.page.locator("#processes h2")).to_have_text("Processes")
    expect(console.page.locator("#budgets")).not_to_contain_text("Forbidden")
    console.shoot("operations")


def test_the_console_is_served_with_a_strict_content_security_policy_and_its_assets_offline(runtime):
    page = httpx.get(f"{runtime.url}/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert re.findall(r'(?:src|href)="(https?:)', page.text) == []  # nothing from another origin
    assets = re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page.text)
    assert len(assets) == 3  # the icon, the styles, the entry module (which imports the rest)
    for asset in assets:  # served compressed, kept for good: their address changes with their contents
        served = httpx.get(f"{runtime.url}{asset}")
        assert served.status_code == 200 and served.headers["content-encoding"] == "gzip", asset
        assert (
            "immutable" in served.headers["cache-control"]
            and "script-src 'self'" in served.headers["content-security-policy"]
        )
    missing = httpx.get(f"{runtime.url}/console/assets/{assets[0].split('/')[3]}/nothing.js")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{runtime.url}/", follow_redirects=False).headers["location"] == "/console"
