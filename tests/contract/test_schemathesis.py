"""Schemathesis 4.x against the running API: every operation, every check, its examples, coverage and fuzzing
cases, then stateful runs that follow the document's links, with a fresh tenant's admin API key."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from api.settings import ApiSettings
from tests.support.api import RunningApi, another_api, serve

SEED = 20261202
MAX_EXAMPLES = 12  # per operation and phase; about a minute for the stateless cases on this machine
SCENARIOS = 40  # stateful runs, each up to STEPS calls following links
STEPS = 8
TENANT = f"st{uuid.uuid4().hex[:10]}"  # chosen before collection so the budget route's {tenant} can name it
# A read-your-writes wait that did not end in time answers 412 with Retry-After, as documented: an answer to
# a valid request (a `min_position` no view reaches yet), which Schemathesis' default list leaves out.
VALID_ANSWERS = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]  # the default
REFERENCES = {"positive_data_acceptance": {"expected-statuses": [*VALID_ANSWERS, "422"]}}
SCOPES = ("admin", "platform-admin")  # past every 403 to each operation's own validation and writes


def as_a_client_sends(case: Case) -> None:
    """What a client does that generated cases do not: a fresh Idempotency-Key per request (a drawn key such as
    `0` is drawn again with another body, and a reused key with another body is 422, as the IETF draft says).
    And what Schemathesis 4.32.5 gets wrong: its coverage phase draws header values that ignore the header's
    `pattern` (`Last-Event-ID: 0`, `traceparent: ` marked valid); such an optional header is left out."""
    headers = case.headers or {}
    key = headers.get("idempotency-key")
    if isinstance(key, str) and 1 <= len(key) <= 200:  # a valid key stays valid: at most 167 + 33 characters
        headers["idempotency-key"] = f"{key[:167]}-{uuid.uuid4().hex}"
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    for parameter in case.operation.headers if positive else ():
        pattern = parameter.definition.get("schema", {}).get("pattern")
        value = headers.get(parameter.name)
        if pattern and isinstance(value, str) and not re.search(pattern, value):
            del headers[parameter.name]


def config(**extra: Any) -> SchemathesisConfig:
    """The run's configuration; `extra` adds keys (credentials, known only once the API runs)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "parameters": {"tenant": TENANT},
            "generation": {"max-examples": MAX_EXAMPLES},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": VALID_ANSWERS},
                # a body over AGENTLOG_API_MAX_BODY is 413 before its fields are read
                "negative_data_rejection": {"expected-statuses": [*REFUSALS, "413"]},
            },
            "request-timeout": 10,
            "operations": [
                # an open session's stream runs until it closes: read what comes in a second, then stop
                {"include-operation-id": "streamSession", "request-timeout": 1},
                # a body naming a session the tenant does not have (`parent_session_id`, `session_id`) is 422
                # naming the field: a drawn UUID names none
                *({"include-operation-id": op, "checks": REFERENCES} for op in ("createDelegationTask", "invokeTool")),
            ],
            **extra,
        }
    )


@dataclass(frozen=True)
class Live:
    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def _admin_key(api: RunningApi) -> str:
    async def make() -> str:
        await api.tenants.create(TENANT)
        return (await api.tenants.add_key(TENANT, list(SCOPES)))[1]

    return asyncio.run_coroutine_threadsafe(make(), api.loop).result(10)


@pytest.fixture(scope="module")
def live(api: RunningApi) -> Iterator[Live]:
    """The API once more on the session's schema, views and servers, waiting at most 0.3 s for a view (generated
    reads ask for a `min_position` no view reaches: each would wait the whole 2 s), and TENANT's admin key."""
    with serve(another_api(api, api_read_wait=0.3)) as url:
        yield Live(url, _admin_key(api))


def test_the_running_api_serves_the_document_under_test(live):
    assert httpx.get(f"{live.url}/openapi.json", timeout=10).json() == DOCUMENT


# pytest 9.2 has no Node._nodeid, which `schemathesis.pytest.from_fixture` (4.32.5) sets, so the stateless cases
# come from the app's own document (the test above checks the running API serves exactly that one).
DOCUMENT = create_app(ApiSettings(jwt_secret=None, jwt_public_key=None)).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=config())


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_answers_as_documented(case, live):
    as_a_client_sends(case)
    case.call_and_validate(base_url=live.url, headers=live.headers)


def test_stateful_runs_following_the_links_find_nothing(live):
    auth = {"openapi": {"ApiKey": {"api_key": live.key}}}
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config(auth=auth))

    class Machine(loaded.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            as_a_client_sends(case)

    Machine.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
