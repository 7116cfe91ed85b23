"""The tools the executor runs: agentlog's built-ins and every tool installed under the `agentlog.tools`
entry-point group, so a user adds a tool by installing a package, without editing agentlog.

A tool is any object with `name`, `description`, `parameters` (a JSON Schema of its arguments
object) and `run(arguments, call)`, which returns the result (anything JSON can encode) or raises
ToolError with a message for the caller; `run` may be a coroutine function (awaited on the event
loop) or a plain function (run on one of the executor's threads). An entry point names such an
object, or a class whose instances are one (made with no arguments). docs/tools.md has an example.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

GROUP = "agentlog.tools"
log = logging.getLogger("agentlog.workers.tools")


class ToolError(Exception):
    """The tool could not do what was asked; the message, meant for the caller, is recorded as the failure."""


class RegistryError(Exception):
    """An installed tool cannot be used (it fails to load, lacks an attribute, or takes a name already taken)."""


@dataclass(frozen=True)
class Call:
    """Who asked for a run: the request, its tenant and session, and when its outcome is due (time.monotonic)."""

    request_id: UUID
    tenant_id: str
    session_id: UUID | None
    deadline: float


@runtime_checkable
class Tool(Protocol):
    """A tool the executor can run (see the module docstring)."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def run(self, arguments: Mapping[str, Any], call: Call) -> Any:
        """The result of the call (JSON-encodable), or raise ToolError saying why there is none."""
        ...


class Registry:
    """Tools by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool, origin: str = "agentlog") -> None:
        """Add a tool; RegistryError when it is not a tool or its name is taken."""
        if not isinstance(tool, Tool) or not isinstance(tool.name, str) or not tool.name:
            raise RegistryError(f"{origin}: not a tool (needs name, description, parameters and run)")
        if tool.name in self._tools:
            raise RegistryError(f"{origin}: a tool named {tool.name!r} is registered already")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __iter__(self) -> Any:
        return iter(self._tools[name] for name in self.names())


def discover(builtins: Iterable[Tool], group: str = GROUP) -> Registry:
    """The built-ins plus every tool installed under the entry-point `group`; RegistryError names the first
    installed tool that cannot be used (a worker refuses to start rather than run without it)."""
    registry = Registry(builtins)
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        registry.add(_load(entry), f"entry point {entry.name!r} ({entry.value})")
        log.info("tool %r from %s", entry.name, entry.value)
    return registry


def _load(entry: EntryPoint) -> Tool:
    try:
        found = entry.load()
        return typing.cast(Tool, found() if inspect.isclass(found) else found)  # checked by Registry.add
    except Exception as e:  # whatever a third-party import raises, named for the operator
        raise RegistryError(f"entry point {entry.name!r} ({entry.value}) cannot be loaded: {e!r}") from e
