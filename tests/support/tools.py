"""Helpers for tool-executor tests: a policy folder, extra test tools, an executor over a store, a worker run."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.runtime import Delivered, Handler
from workers.tools.executor import Executor
from workers.tools.policy import FailClosed, RegoFiles
from workers.tools.registry import Call, Registry
from workers.tools.settings import ToolSettings
from workers.tools.worker import builtin_tools

DEFAULT_POLICY = Path(__file__).parents[2] / "policies" / "default.rego"


def policy_folder(folder: Path, **tenants: str) -> Path:
    """The default policy, and `tenant=<rego source>` files beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEFAULT_POLICY, folder / "default.rego")
    for tenant, source in tenants.items():
        (folder / f"{tenant}.rego").write_text(source)
    return folder


def allowing(*tools: str, approve: tuple[str, ...] = ()) -> str:
    """A tenant policy allowing `tools` and asking a person for `approve`, denying the rest."""
    listed = ", ".join(f'"{t}"' for t in tools)
    asked = ", ".join(f'"{t}"' for t in approve)
    return f"""package agentlog.tools
import rego.v1
default decision := "deny"
default reason := "not listed for this tenant"
decision := "allow" if input.tool in {{{listed}}}
reason := "listed for this tenant" if input.tool in {{{listed}}}
decision := "approve" if input.tool in {{{asked or '"-"'}}}
reason := "a person approves this tool" if input.tool in {{{asked or '"-"'}}}
"""


class Sleep:
    """Sleeps `seconds` (async), counting how many run at once."""

    name = "sleep"
    description = "sleeps"

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {"type": "object"}
        self.running = 0
        self.peak = 0

    async def run(self, arguments: dict[str, Any], call: Call) -> dict[str, Any]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(float(arguments.get("seconds", 0)))
        finally:
            self.running -= 1
        return {"slept": arguments.get("seconds", 0)}


def executor(store, folder: Path, *, max_concurrent: int = 8, fail_open: tuple[str, ...] = (), extra=()) -> Executor:
    registry = Registry([*builtin_tools(ToolSettings()), *extra])
    policy = FailClosed(RegoFiles(folder), fail_open)
    return Executor(store, policy, registry, max_concurrent=max_concurrent)


def for_tenant(tenant: str, handle: Handler) -> Handler:
    """Only `tenant`'s events: other tests' requests on shared topics are theirs to handle."""

    async def handle_own(delivered: Delivered) -> None:
        if delivered.recorded.meta.tenant_id == tenant:
            await handle(delivered)

    return handle_own


async def run_until(worker, done: Callable[[], Any], timeout: float = 30.0) -> None:
    """Run the worker until `done()` (a coroutine function) holds, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not await done():
            assert time.monotonic() < deadline, "the executor did not record everything in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
