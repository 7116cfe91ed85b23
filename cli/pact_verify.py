"""Provider verification of pacts with pact-python's Verifier: the relay's messages (and, when set, a broker).

`verify_relay` replays every message interaction of the pacts whose provider is the relay against
the messages `relay_messages.produce` read off Kafka. With PACT_BROKER_BASE_URL set, the pacts come
from that broker (PACT_BROKER_USERNAME / _PASSWORD / _TOKEN, read by pact-python itself) instead of
the files, and with PACT_PUBLISH_VERIFICATION_RESULTS=true the results are published to it under the
provider version PACT_PROVIDER_VERSION (default: the git commit) and branch PACT_PROVIDER_BRANCH.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pact import Verifier

from contracts.messages import PROVIDER, STATE
from contracts.pact_files import PactFile


@dataclass
class Verification:
    """What one provider verification found: failures name the interaction and what did not match."""

    provider: str
    source: str
    interactions: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_relay(pacts: Sequence[PactFile], messages: Mapping[str, Mapping[str, Any]]) -> Verification:
    """Every interaction of the relay's pacts against `messages` (by description)."""
    mine = [p for p in pacts if p.provider == PROVIDER]
    verifier = Verifier(PROVIDER).message_handler(dict(messages)).state_handler(_ready)  # type: ignore[arg-type]
    broker = os.environ.get("PACT_BROKER_BASE_URL")
    if broker:
        verifier.broker_source(broker)
        _publish_options(verifier)
    for pact in mine:
        if not broker:
            verifier.add_source(pact.path)
    count = sum(p.interactions for p in mine)
    result = Verification(PROVIDER, broker or "contracts/pacts", count)
    try:
        verifier.verify()
    except RuntimeError as e:
        result.failures = _failures(verifier) or [str(e)]
    return result


def _ready(state: str, action: str) -> None:
    """Every message is produced before verification starts: a state needs no set-up, only to be known."""
    if state not in (STATE, "") and action == "setup":
        raise ValueError(f"unknown provider state {state!r}: the relay's pacts are given {STATE!r}")


def _publish_options(verifier: Verifier) -> None:
    if os.environ.get("PACT_PUBLISH_VERIFICATION_RESULTS", "").lower() not in ("1", "true", "yes"):
        return
    version = os.environ.get("PACT_PROVIDER_VERSION") or _git("rev-parse", "HEAD")
    verifier.set_publish_options(
        version, branch=os.environ.get("PACT_PROVIDER_BRANCH") or _git("branch", "--show-current")
    )


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def _failures(verifier: Verifier) -> list[str]:
    """One line per failed interaction: its description and the mismatches pact reported."""
    lines = []
    for error in verifier.results.get("errors", []):
        interaction = error.get("interaction", "?")
        mismatches = error.get("mismatch", {}).get("mismatches") or [error.get("mismatch", {})]
        said = "; ".join(str(m.get("mismatch") or m.get("message") or m) for m in mismatches)
        lines.append(f"{interaction}: {said}")
    return lines
