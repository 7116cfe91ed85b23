"""The tool executor's composition root: its tools, its policy and the handler `agentlog worker tools` runs."""

from __future__ import annotations

import httpx

from contracts.codec import EventCodec
from domain.service import EventStore
from workers.runtime import Handler
from workers.settings import WorkerSettings
from workers.tools.builtin import Calculator, Echo, Timestamp
from workers.tools.executor import Executor
from workers.tools.http_fetch import HttpFetch
from workers.tools.policy import FailClosed, Policy, RegoFiles, RemoteOpa
from workers.tools.registry import Registry, Tool, discover
from workers.tools.settings import ToolSettings


def builtin_tools(settings: ToolSettings) -> list[Tool]:
    """agentlog's own tools, http_fetch configured by the operator's settings."""
    fetch = HttpFetch(
        settings.tools_http_allow_hosts,
        settings.tools_http_allow_private_hosts,
        max_bytes=settings.tools_http_max_bytes,
        timeout=settings.tools_http_timeout,
    )
    return [Echo(), Calculator(), Timestamp(), fetch]


def tool_registry(settings: ToolSettings) -> Registry:
    """The built-ins and every installed tool of the `agentlog.tools` entry-point group."""
    return discover(builtin_tools(settings))


def tool_policy(settings: ToolSettings) -> Policy:
    """OPA when AGENTLOG_TOOLS_OPA_URL is set, else the Rego files; either way failing closed."""
    package = settings.tools_policy_package
    inner: Policy
    if settings.tools_opa_url:
        client = httpx.AsyncClient(timeout=settings.tools_opa_timeout)
        inner = RemoteOpa(settings.tools_opa_url, client, package)
    else:
        inner = RegoFiles(settings.tools_policy_dir, package)
    return FailClosed(inner, settings.tools_fail_open_tenants)


async def make_handler(settings: WorkerSettings, store: EventStore, codec: EventCodec) -> Handler:
    """The handler of `agentlog worker tools` (see cli/workers.py)."""
    assert isinstance(settings, ToolSettings), "serve() builds ToolSettings for this worker"
    executor = Executor(
        store,
        tool_policy(settings),
        tool_registry(settings),
        max_concurrent=settings.tools_max_concurrent,
        approval_timeout=settings.tools_approval_timeout_s,
    )
    return executor.handle
