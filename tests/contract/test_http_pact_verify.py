"""Provider side of the HTTP pacts: every interaction agentlog.client's pact holds, replayed against this
code's API, as `agentlog contracts can-i-deploy` replays it (cli/provider.py, cli/pact_verify.py).

The API runs with its relay, every view and the tool executor on the test servers, in a schema, topic
prefix and key prefix of its own; provider states are set up through real commands (the tenant with
the tenants service, everything else through the API with agentlog.client, and a tool execution
awaiting approval through the real executor under a policy that leaves `echo` to a person).

With PACT_BROKER_BASE_URL set, the pacts come from that broker and the results are published to it
when PACT_PUBLISH_VERIFICATION_RESULTS is set (see docs/contracts.md, "HTTP pacts").
"""

from __future__ import annotations

import json

import pytest

from cli.pact_verify import API_PROVIDER, verify_api
from cli.provider import provider_api
from contracts.pact_files import PACTS_DIR, pact_files

pytestmark = pytest.mark.contract
PACT = PACTS_DIR / f"agentlog-client-{API_PROVIDER}.json"
SCOPES = ("admin", "approve", "platform-admin")


@pytest.fixture(scope="module")
def provider(servers):
    with provider_api(servers) as api:
        yield api


def test_the_api_honours_every_interaction_of_the_clients_pact(provider):
    result = verify_api(pact_files(), provider.url, lambda: provider.tenant(*SCOPES))
    assert result.ok, "\n".join(result.failures)
    in_files = sum(p.interactions for p in pact_files() if p.provider == API_PROVIDER)
    assert (result.source, result.interactions) == ("contracts/pacts", in_files) and in_files >= 29


def test_a_field_the_client_expects_and_the_api_does_not_send_fails_naming_interaction_and_field(provider, tmp_path):
    pact = json.loads(PACT.read_text())
    read = next(i for i in pact["interactions"] if i["description"] == "a read of an open session")
    read["response"]["body"]["content"]["archived_by"] = "someone"  # a field the API never had
    (tmp_path / PACT.name).write_text(json.dumps(pact))

    result = verify_api(pact_files(tmp_path), provider.url, lambda: provider.tenant(*SCOPES))

    assert not result.ok
    assert any("a read of an open session" in line and "archived_by" in line for line in result.failures), result
