"""Console benchmark: first-load time and page weight of /console in headless Chromium, against the local stack.

Per round, a new browser context (empty cache): the sign-in page until its form is usable, then the sessions
page of a tenant with `sessions` sessions until every row shows; then a reload of the same tab (warm cache).
Page weight counts every response's headers and body on the first load.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Annotated

import asyncpg
import httpx
import typer
from playwright.sync_api import Page, sync_playwright

from api.tenants import Tenants
from bench.common import Result, endpoints, out, write_results
from stack.config import StackSettings
from tests.support.debian import CHROMIUM, debian_tool

CREDENTIAL = "agentlog.credential"  # the sessionStorage key api/console/static/api.js keeps the credential under


async def make_key(dsn: str) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        tenant = f"bench-console-{uuid.uuid4().hex[:8]}"
        await Tenants(pool).create(tenant)
        return (await Tenants(pool).add_key(tenant, ["admin"]))[1]
    finally:
        await pool.close()


def seed(url: str, key: str, sessions: int) -> None:
    """`sessions` sessions, each with one message, shown by the sessions view before the bench starts."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as api:
        for n in range(sessions):
            sent = api.post("/v1/session/message", json={"message": f"bench message {n}"}).json()
            api.get(f"/v1/sessions/{sent['session_id']}", params={"min_position": sent["position"]})


def weighed(page: Page) -> list[int]:
    """A list that fills with the bytes (headers and body) of every response the page receives."""
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseHeadersSize"] + r.sizes()["responseBodySize"]))
    return sizes


def one_round(page: Page, url: str, key: str, sessions: int) -> dict[str, float]:
    sizes = weighed(page)
    began = time.perf_counter()
    page.goto(f"{url}/console")
    page.get_by_label("API key or token").wait_for()
    first_load = time.perf_counter() - began
    weight, requests = sum(sizes), len(sizes)
    page.evaluate("([k, v]) => sessionStorage.setItem(k, v)", [CREDENTIAL, json.dumps({"kind": "key", "value": key})])
    began = time.perf_counter()
    page.goto(f"{url}/console#/sessions")
    page.locator("tr[data-session]").nth(sessions - 1).wait_for()
    sessions_page = time.perf_counter() - began
    sizes.clear()
    began = time.perf_counter()
    page.reload()
    page.locator("tr[data-session]").nth(sessions - 1).wait_for()
    reload = time.perf_counter() - began
    return {"first_load": first_load * 1000, "weight": weight, "requests": requests,
            "sessions_page": sessions_page * 1000, "reload": reload * 1000, "reload_weight": sum(sizes)}  # fmt: skip


def main(
    rounds: Annotated[int, typer.Option(help="cold loads, each in a new browser context")] = 20,
    sessions: Annotated[int, typer.Option(help="sessions the sessions page lists (one page: at most 25)")] = 25,
) -> None:
    """First-load time, page weight and the signed-in sessions page's time of the web console."""
    servers = endpoints()
    url = f"http://127.0.0.1:{StackSettings().api_port}"
    key = asyncio.run(make_key(servers.postgres_dsn))
    seed(url, key, sessions)
    chromium = debian_tool(CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        one_round(browser.new_page(), url, key, sessions)  # warm-up: the API's and the browser's first use
        measured = []
        for _ in range(rounds):
            context = browser.new_context()
            measured.append(one_round(context.new_page(), url, key, sessions))
            context.close()
        browser.close()

    def med(name: str) -> float:
        return statistics.median(m[name] for m in measured)

    params = {"rounds": rounds, "sessions": sessions, "browser": "chromium (Debian), headless", "url": url}
    write_results("console", [
        Result("console_first_load_ms", med("first_load"), "ms", False, params=params),
        Result("console_page_weight_bytes", med("weight"), "bytes", False, params=params),
        Result("console_first_load_requests", med("requests"), "requests", False, params=params),
        Result("console_sessions_page_ms", med("sessions_page"), "ms", False, params=params),
        Result("console_reload_ms", med("reload"), "ms", False, params=params),
        Result("console_reload_bytes", med("reload_weight"), "bytes", False, params=params),
    ])  # fmt: skip
    out.print(f"[dim]p95 first load {statistics.quantiles([m['first_load'] for m in measured], n=20)[-1]:.1f} ms[/dim]")


if __name__ == "__main__":
    typer.run(main)
