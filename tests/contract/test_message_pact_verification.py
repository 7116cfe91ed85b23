"""Provider side of the message pacts: the relay's real records, read off Kafka through the registry, satisfy them."""

from __future__ import annotations

import json

import pytest

from cli.pact_verify import verify_relay
from cli.relay_messages import produce
from contracts.messages import PROVIDER
from contracts.pact_files import pact_files

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def relayed(servers):
    return produce(servers)


def test_every_message_pact_is_satisfied_by_what_the_relay_publishes(relayed):
    pacts = [p for p in pact_files() if p.provider == PROVIDER]
    assert {p.consumer for p in pacts} >= {"agentlog-projections", "agentlog-conversation-worker",
                                           "agentlog-tool-executor", "agentlog-delegation-worker"}  # fmt: skip
    result = verify_relay(pacts, relayed)
    assert result.ok, "\n".join(result.failures)
    assert result.interactions == sum(p.interactions for p in pacts) >= 30


def test_a_message_missing_a_field_a_consumer_reads_fails_naming_the_field(relayed):
    name = "agentlog.tool.ToolRequested on tool.requests"
    content = json.loads(relayed[name]["contents"])
    del content["tool_name"]
    content["timeout_ms"] = "soon"
    broken = {**relayed, name: {**relayed[name], "contents": json.dumps(content).encode()}}
    result = verify_relay(pact_files(), broken)
    assert not result.ok
    said = "\n".join(result.failures)
    assert "agentlog-tool-executor" in said and "agentlog-projections" in said
    assert "missing the following keys: tool_name" in said
    assert "'soon' (String) to be the same type as" in said
