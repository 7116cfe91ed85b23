"""The identity a Kafka cluster's nodes share before their first start: cluster id and controller voters."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from stack import process
from stack.config import StackSettings
from stack.errors import StackError


def kafka_uuid() -> str:
    """A random id as Kafka writes one (Uuid.randomUuid): base64url without padding, never led by "-"
    (it would read as a flag on the storage tool's command line)."""
    found = "-"
    while found.startswith("-"):
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    return found


@dataclass(frozen=True)
class Quorum:
    """What every node of one cluster is formatted with: the cluster id, and each voter's metadata
    directory id (KRaft names a voter by node id, endpoint and directory id: `--initial-controllers`)."""

    cluster_id: str
    directories: dict[int, str]

    def initial_controllers(self, settings: StackSettings) -> str:
        return ",".join(
            f"{node}@127.0.0.1:{settings.kafka_node_ports(node)[1]}:{directory}"
            for node, directory in sorted(self.directories.items())
        )


def quorum(settings: StackSettings) -> Quorum:
    """The cluster's quorum, made once and kept under the data folder, so that each node (prepared one by
    one) formats into the same cluster."""
    kept = _kept(settings)
    with process.exclusive(settings.run / "kafka-quorum.lock"):
        if not kept.exists():
            made = Quorum(kafka_uuid(), {node: kafka_uuid() for node in range(1, settings.kafka_brokers + 1)})
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"cluster_id": made.cluster_id, "directories": made.directories}))
    saved = json.loads(kept.read_text())
    return Quorum(saved["cluster_id"], {int(node): d for node, d in saved["directories"].items()})


def check(settings: StackSettings) -> None:
    """Refuse Kafka data formatted for another number of nodes: a node formatted alone, or for other
    voters, would wait for a quorum that never forms."""
    formatted = _formatted_nodes(settings)
    if formatted not in (None, settings.kafka_brokers):
        raise StackError(
            f"Kafka's data in {settings.data} was formatted for {formatted} node(s), not AGENTLOG_KAFKA_BROKERS="
            f"{settings.kafka_brokers}",
            f"set AGENTLOG_KAFKA_BROKERS={formatted}, or use a new AGENTLOG_HOME (the topics stay in the old one)",
        )


def _formatted_nodes(settings: StackSettings) -> int | None:
    """How many nodes the existing Kafka data was formatted for (None: there is none yet)."""
    if _kept(settings).exists():
        return len(json.loads(_kept(settings).read_text())["directories"])
    return 1 if (settings.data / "kafka" / "log" / "meta.properties").exists() else None


def _kept(settings: StackSettings) -> Path:
    return settings.data / "kafka-quorum.json"
