"""The pact files under contracts/pacts/: who they are between and what they hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PACTS_DIR = Path(__file__).parent / "pacts"


@dataclass(frozen=True)
class PactFile:
    """One pact: its consumer, provider and interactions by kind ("Asynchronous/Messages", ...)."""

    path: Path
    consumer: str
    provider: str
    kinds: dict[str, int]

    @property
    def interactions(self) -> int:
        return sum(self.kinds.values())


def read_pact(path: Path) -> PactFile:
    """The pact in `path`; ValueError naming the file when it is not a pact."""
    try:
        body = json.loads(path.read_text())
        consumer, provider = body["consumer"]["name"], body["provider"]["name"]
        kinds: dict[str, int] = {}
        for interaction in body.get("interactions") or body.get("messages") or []:
            kind = str(interaction.get("type") or "Asynchronous/Messages")
            kinds[kind] = kinds.get(kind, 0) + 1
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path.name} is not a pact file: {e}") from e
    return PactFile(path, str(consumer), str(provider), kinds)


def pact_files(directory: Path = PACTS_DIR) -> list[PactFile]:
    """Every pact in `directory`, by file name."""
    return [read_pact(path) for path in sorted(directory.glob("*.json"))]
