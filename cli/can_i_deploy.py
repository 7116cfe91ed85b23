"""`agentlog contracts can-i-deploy`: one gate over the Avro contracts, the OpenAPI document and the pacts.

(a) every Avro contract is compatible with what the given registry holds (`contracts check`);
(b) the OpenAPI document this code serves is backward compatible with an earlier one, judged by
    oasdiff's `breaking` rules (installed into .venv/bin by ./dev); the earlier one is a file, a URL,
    or by default contracts/openapi/agentlog.json as committed at `--base-ref` (origin/main when
    that ref exists, else HEAD);
(c) every pact in contracts/pacts/ whose provider is the relay is verified against what the real relay
    publishes (cli/relay_messages.py) on the given servers;
(d) every pact whose provider is the API is replayed against this code's API, run with its relay, views
    and tool executor on the given servers (cli/provider.py), provider states set up by real commands.
Each failure names the field and the rule it breaks; exit 1 when any check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from cli.pact_verify import API_PROVIDER, verify_api, verify_relay
from cli.provider import provider_api
from cli.relay_messages import produce
from contracts import registry as workflow
from contracts.messages import PROVIDER
from contracts.pact_files import PACTS_DIR, pact_files
from contracts.routing import Routing
from contracts.schemas import event_contracts
from stack import Endpoints

OPENAPI_FILE = Path("contracts/openapi/agentlog.json")
REPO = Path(__file__).resolve().parents[1]


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what is written to file descriptor 1 (also by C libraries) to stderr during the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class Check:
    """One part of the gate: ok, or what failed (each line names the field and the rule)."""

    name: str
    ok: bool = True
    summary: str = ""
    failures: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.ok = False
        self.failures.append(line)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def avro(registry_url: str, topic_prefix: str, contracts_dir: Path) -> Check:
    """(a) Every local contract against every registered version of its subjects."""
    check, contracts = Check("avro"), event_contracts(contracts_dir.resolve())
    with workflow.reachable():
        reports = workflow.check(workflow.connect(registry_url), Routing(topic_prefix), contracts)
    for report in reports:
        for problem in report.problems:
            check.fail(f"{report.subject} ({report.level}): {problem}")
    check.summary = f"{len(reports)} subjects, {sum(not r.ok for r in reports)} incompatible"
    return check


def current_openapi() -> dict[str, object]:
    """The OpenAPI document this code serves."""
    from api.app import create_app  # noqa: PLC0415 - the API is imported only by the check that needs it
    from api.settings import ApiSettings  # noqa: PLC0415

    return create_app(ApiSettings(jwt_secret=None, jwt_public_key=None)).openapi()


def base_document(base: str | None, base_ref: str | None) -> tuple[str, str]:
    """(text, where it came from) of the earlier OpenAPI document; ValueError when there is none."""
    if base and base.startswith(("http://", "https://")):
        answer = httpx.get(base, timeout=30, follow_redirects=True)
        answer.raise_for_status()
        return answer.text, base
    if base:
        return Path(base).read_text(), base
    refs = [base_ref] if base_ref else ["origin/main", "HEAD"]
    for ref in refs:
        shown = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{OPENAPI_FILE}"],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if shown.returncode == 0:
            return shown.stdout, f"{ref}:{OPENAPI_FILE}"
    raise ValueError(f"no earlier OpenAPI document: {OPENAPI_FILE} is not committed at {' or '.join(refs)}")


def oasdiff() -> str:
    """The oasdiff binary: .venv/bin's (installed by ./dev), else one on PATH."""
    local = REPO / ".venv" / "bin" / "oasdiff"
    found = str(local) if local.exists() else shutil.which("oasdiff")
    if not found:
        raise FileNotFoundError("oasdiff is not installed: run ./dev (it installs it into .venv/bin)")
    return found


def openapi(base: str | None, base_ref: str | None, current: dict[str, object] | None = None) -> Check:
    """(b) The current document against the earlier one, by oasdiff's breaking-change rules."""
    check = Check("openapi")
    text, origin = base_document(base, base_ref)
    with tempfile.TemporaryDirectory() as scratch:
        before, after = Path(scratch, "base.json"), Path(scratch, "current.json")
        before.write_text(text)
        after.write_text(json.dumps(current or current_openapi()))
        run = subprocess.run([oasdiff(), "breaking", str(before), str(after), "--format", "json"],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if run.returncode != 0:
        check.fail(f"oasdiff failed: {run.stderr.strip()[:500]}")
        return check
    changes = json.loads(run.stdout or "[]") or []
    for change in changes:
        if change.get("level", 3) >= 3:  # 3 = ERR (breaking); 2 = WARN is reported, 1 = INFO ignored
            where = f"{change.get('operation', '')} {change.get('path', '')}".strip()
            check.fail(f"{where}: {change.get('text', '')} [rule {change.get('id', '?')}]")
    check.summary = f"against {origin}: {len(check.failures)} breaking of {len(changes)} change(s)"
    return check


def pacts(servers: Endpoints, directory: Path = PACTS_DIR) -> Check:
    """(c) The relay's message pacts against what the relay publishes on `servers`."""
    check, files = Check("pacts"), pact_files(directory)
    result = verify_relay(files, produce(servers))
    for failure in result.failures:
        check.fail(failure)
    others = sorted({f"{p.consumer} -> {p.provider}" for p in files if p.provider not in (PROVIDER, API_PROVIDER)})
    check.summary = f"{result.interactions} message interaction(s) with {PROVIDER} from {result.source}"
    if others:
        check.summary += f"; verified by their own providers: {', '.join(others)}"
    return check


def http_pacts(servers: Endpoints, directory: Path = PACTS_DIR) -> Check:
    """(d) The API's HTTP pacts replayed against this code's API on `servers`."""
    check, files = Check("http-pacts"), pact_files(directory)
    with provider_api(servers) as api:
        result = verify_api(files, api.url, lambda: api.tenant("admin", "approve", "platform-admin"))
    for failure in result.failures:
        check.fail(failure)
    check.summary = f"{result.interactions} HTTP interaction(s) with {API_PROVIDER} from {result.source}"
    return check
