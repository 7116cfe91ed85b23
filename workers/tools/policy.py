"""Policy on tool calls: allow, deny or ask a person, with a reason; Rego in process or a remote OPA; fail closed.

The embedded default evaluates Rego with regopy: each tenant's policy is `<dir>/<tenant>.rego`
when that file exists, else `<dir>/default.rego`. A file is compiled once per version (its
modification time and size are checked on every decision), so an operator changes policy by
editing the file, without a restart. When AGENTLOG_TOOLS_OPA_URL is set, an Open Policy Agent is
asked instead, through its Data API (`POST {url}/v1/data/<package path>` with `{"input": ...}`).

Either way the package (default `agentlog.tools`) answers `decision` ("allow", "deny" or
"approve": a person decides) and `reason`. Any failure to get such an answer (a missing or broken
policy, an undefined decision, OPA down) is a PolicyError, and FailClosed turns it into a denial
that names the error, unless the tenant is configured fail-open (then it is allowed, and says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import regopy

Verdict = Literal["allow", "deny", "approve"]
VERDICTS: tuple[Verdict, ...] = ("allow", "deny", "approve")
TENANT_FILE = "{tenant}.rego"
_REGO_ERROR = re.compile(r"\(error \d+:[^|]*\|(\d+)\|\d+\s+\(errormsg \d+:([^)]*)\)")


class PolicyError(Exception):
    """No decision could be had: the message says what is wrong with the policy or its server."""


@dataclass(frozen=True)
class Decision:
    """What policy answered, why, and which policy it was (recorded with the execution)."""

    verdict: Verdict
    reason: str
    policy: str


class Policy(Protocol):
    """Decides on one tool call."""

    async def decide(self, tenant: str, document: Mapping[str, Any]) -> Decision:
        """The decision for `document` (the input: tenant, tool, arguments, ...); PolicyError when there is none."""
        ...


def decision_of(answer: object, policy: str) -> Decision:
    """The Decision in a package's value ({"decision": ..., "reason": ...}); PolicyError when it has none."""
    if not isinstance(answer, Mapping):
        raise PolicyError(f"{policy}: the package has no value for this input (is `decision` defined?)")
    verdict, reason = answer.get("decision"), answer.get("reason")
    if verdict is None:
        raise PolicyError(f"{policy}: `decision` is undefined for this input (give it a default)")
    if verdict not in VERDICTS:
        raise PolicyError(f"{policy}: decision must be one of allow, deny, approve, not {verdict!r}")
    if reason is not None and not isinstance(reason, str):
        raise PolicyError(f"{policy}: reason must be a string, not {reason!r}")
    return Decision(verdict, reason or f"policy answered {verdict}", policy)


class RegoFiles:
    """Rego files per tenant in `directory`, evaluated in process, reloaded when a file changes."""

    def __init__(self, directory: Path, package: str = "agentlog.tools") -> None:
        self.directory = directory
        self.package = package
        self._compiled: dict[Path, tuple[tuple[int, int], regopy.Interpreter]] = {}

    def file_for(self, tenant: str) -> Path:
        """The tenant's own file if it exists, else default.rego."""
        own = self.directory / TENANT_FILE.format(tenant=tenant)
        return own if "/" not in tenant and own.is_file() else self.directory / "default.rego"

    async def decide(self, tenant: str, document: Mapping[str, Any]) -> Decision:
        path = self.file_for(tenant)
        name = f"rego:{path.name}"
        interpreter = self._interpreter(path)
        try:  # a short, CPU-only evaluation: on the event loop, so set_input and query are never interleaved
            interpreter.set_input(dict(document))
            output = interpreter.query(f"data.{self.package}")
        except regopy.RegoError as e:
            raise PolicyError(f"{name}: {_first_line(e)}") from None
        if not output.ok():
            raise PolicyError(f"{name}: {_first_line(output)}")
        answer = output.results[0].expressions[0] if output.results and output.results[0].expressions else None
        return decision_of(answer, name)

    def _interpreter(self, path: Path) -> regopy.Interpreter:
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            known = self._compiled.get(path)
            if known and known[0] == stamp:
                return known[1]
            source = path.read_text()
        except OSError as e:
            raise PolicyError(f"no policy: cannot read {path} ({e.strerror or e})") from None
        interpreter = regopy.Interpreter()
        interpreter.log_level = regopy.LogLevel.NONE  # its errors come back as exceptions, not on stdout
        try:
            interpreter.add_module(path.stem, source)
        except regopy.RegoError as e:
            raise PolicyError(f"rego:{path.name} does not compile: {_first_line(e)}") from None
        self._compiled[path] = (stamp, interpreter)
        return interpreter


class RemoteOpa:
    """An Open Policy Agent asked through its Data API; its answer (or its absence) is the decision."""

    def __init__(self, url: str, client: httpx.AsyncClient, package: str = "agentlog.tools") -> None:
        self.endpoint = f"{url.rstrip('/')}/v1/data/{package.replace('.', '/')}"
        self.client = client

    async def decide(self, tenant: str, document: Mapping[str, Any]) -> Decision:
        name = f"opa:{self.endpoint}"
        try:
            response = await self.client.post(self.endpoint, json={"input": dict(document)})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            raise PolicyError(f"{name}: {type(e).__name__}: {e}") from None
        return decision_of(body.get("result") if isinstance(body, dict) else None, name)


class FailClosed:
    """A policy whose every failure is a denial naming it, except for tenants configured fail-open."""

    def __init__(self, policy: Policy, fail_open: Collection[str] = ()) -> None:
        self.policy = policy
        self.fail_open = frozenset(fail_open)

    async def decide(self, tenant: str, document: Mapping[str, Any]) -> Decision:
        try:
            return await self.policy.decide(tenant, document)
        except PolicyError as e:
            if tenant in self.fail_open:
                return Decision("allow", f"policy failed, tenant {tenant} is fail-open: {e}", "fail-open")
            return Decision("deny", f"policy failed, so the call is denied (fail closed): {e}", "fail-closed")


def _first_line(error: object) -> str:
    """regopy's errors are S-expressions (or listings): what they say and where, in one line."""
    text = str(error)
    found = dict.fromkeys(f"{message.strip()} (at character {at})" for at, message in _REGO_ERROR.findall(text))
    if found:
        return "; ".join(list(found)[:3])
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("---")]
    return " ".join(lines[:3])[:500] or type(error).__name__
