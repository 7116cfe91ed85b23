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
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi import stateful
from schemathesis.specs.openapi.stateful import RootTransitions

from api.app import create_app
from api.settings import ApiSettings
from cli.provider import serve
from tests.support.api import RunningApi, another_api

SEED = 20261202
MAX_EXAMPLES = 12  # per operation and phase; about a minute for the stateless cases on this machine
SCENARIOS = 40  # stateful runs, each on a fresh tenant, up to STEPS calls following links
STEPS = 8
TENANT = f"st{uuid.uuid4().hex[:10]}"  # chosen before collection so the budget route's {tenant} can name it
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]  # the default
SCOPES = ("admin", "platform-admin")  # past every 403 to each operation's own validation and writes


def config(**extra: Any) -> SchemathesisConfig:
    """The run's configuration; `extra` adds keys (credentials, known only once the API runs)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "parameters": {"tenant": TENANT},
            "generation": {"max-examples": MAX_EXAMPLES},
            # Schemathesis' defaults, as a client nobody here wrote runs it, but for one: a body over
            # AGENTLOG_API_MAX_BODY (64 KiB for the test API) is 413 before its fields are read
            "checks": {"negative_data_rejection": {"expected-statuses": [*REFUSALS, "413"]}},
            "request-timeout": 10,
            "operations": [
                # an open session's stream runs until it closes: read what comes in a second, then stop
                {"include-operation-id": "streamSession", "request-timeout": 1},
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
def live(api: RunningApi) -> Live:
    """The running API (its views waited for as configured: 2 s) and TENANT's admin key."""
    return Live(api.url, _admin_key(api))


def test_the_running_api_serves_the_document_under_test(live):
    assert httpx.get(f"{live.url}/openapi.json", timeout=10).json() == DOCUMENT


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        yield from [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_every_pattern_means_the_same_to_every_regex_engine():
    """Schemathesis draws and checks with its regex engine, the API validates with pydantic's, clients with theirs:
    \\s, \\S, \\d, \\w and \\b differ between them (U+0085, U+FEFF, Arabic-Indic digits), spelled-out ranges do not."""
    patterns = set(_patterns(DOCUMENT))

    assert patterns
    assert not [p for p in patterns if re.search(r"\\[sSdDwWbB]", p)]


# pytest 9.2 has no Node._nodeid, which `schemathesis.pytest.from_fixture` (4.32.5) sets, so the stateless cases
# come from the app's own document (the test above checks the running API serves exactly that one).
DOCUMENT = create_app(ApiSettings(jwt_secret=None, jwt_public_key=None)).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=config())


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_answers_as_documented(case, live):
    case.call_and_validate(base_url=live.url, headers=live.headers)


# the links the stateful run must follow to a 2xx answer at least once: a session to its reads, a task to its
# transitions, a tool request to its execution (target: an operation label's start)
MUST_FOLLOW = [
    ("POST /v1/session/message", "GET /v1/sessions/{session_id}"),
    ("POST /v1/delegation/tasks", "POST /v1/delegation/tasks/{task_id}/"),
    ("POST /v1/tools/{name}/invocations", "GET /v1/tool-executions/{request_id}"),
]
READ_WAIT = 5.0  # seconds a stateful read may wait for its view: reads follow writes, so they carry the position


def _roots_without_incoming_links(operations: Any, transitions: Any, graph: Any) -> RootTransitions:
    """Scenarios start at the operations no link leads to (a message, a task, a tool request, a profile, a limit).

    Schemathesis 4.32.5 guesses roots from names: POSTs with an id in the path (a task's start, a session's
    close, which with a drawn id only answer 404) are roots, and the message, the tool request and both PUTs,
    whose `persona_id` or `{name}` no operation produces, are not: the session's links were never followed."""
    roots = RootTransitions()
    roots.reliable = {label for label, t in transitions.operations.items() if t.outgoing and not t.incoming}
    return roots


def _linked_position(step: StepInput) -> int | None:
    """The `min_position` the step's link carries (the position of the write it follows), if the step reads
    what that write changed: Schemathesis sometimes draws a path parameter instead of taking the link's."""
    if step.transition is None:
        return None
    applied = {name for _, name in step.applied_parameters}
    if not set(step.transition.parameters.get("path_parameters", {})) <= applied:
        return None
    extracted = step.transition.parameters.get("query", {}).get("min_position")
    value = extracted.value.ok() if extracted is not None and isinstance(extracted.value, Ok) else None
    return value if isinstance(value, int) else None


def _position(output: StepOutput) -> int:
    """The store position a write answered with (0 if none)."""
    try:
        body = output.response.json()
    except ValueError:
        return 0
    return body["position"] if isinstance(body, dict) and isinstance(body.get("position"), int) else 0


@pytest.fixture
def patient(api: RunningApi) -> Iterator[str]:
    """The API once more, waiting up to READ_WAIT for a view: a read after a write waits for it, not 412."""
    with serve(another_api(api, api_read_wait=READ_WAIT)) as url:
        yield url


def test_stateful_runs_following_the_links_find_nothing(api, patient, monkeypatch):
    """Scenarios of up to STEPS calls that follow the document's links, each on a fresh tenant; every check runs.

    They must be deterministic: Hypothesis replays the recorded start of a scenario to explore past it, and
    re-runs a failure to report it, so the same calls must get the same answers, or it stops with
    FlakyStrategyDefinition ("inconsistent data generation") instead of saying what it found. Hence:
    - only the document's links: Schemathesis' inference adds links from reads (`GET /v1/sessions`, a task read),
      whose answers depend on how far the views are (200, or 412 on a `min_position` not reached in time) and on
      what earlier scenarios left;
    - a fresh tenant per scenario: with a shared one, a daily limit of 0 set by one scenario turns another's 202
      into 429;
    - a read carries, as a client reading its own writes does, the position of the scenario's last write to the
      same resource (its path), or of the write its link follows (Schemathesis keeps an optional link parameter
      only sometimes), on an API that waits for it: the read sees the scenario's writes, so it answers neither
      412, nor 404 for a resource just created, nor 200 for one just removed (the views are eventually
      consistent: without the position the answer depends on how far they are). A drawn `min_position` on a
      positive case is left out (no view reaches it: the read would only wait; the stateless cases cover it);
    - a task is created without a callback URL: whether a drawn host resolves, and how fast, is up to the machine's
      resolver (503 when it fails or is slow), and one such answer changed every later scenario of a CI run,
      which then followed no task link; the stateless cases cover the field;
    - a fixed set of scenarios (derandomize) and no shrinking, as Schemathesis runs its own stateful phase."""
    monkeypatch.setattr(stateful, "classify_root_transitions", _roots_without_incoming_links)
    config_ = config(phases={"stateful": {"inference": {"algorithms": []}}})
    loaded = schemathesis.openapi.from_url(f"{patient}/openapi.json", config=config_)
    followed: set[tuple[str, str]] = set()  # (source, target) of the links followed to a 2xx answer

    class Scenario(loaded.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.tenant, self.headers = api.tenant(*SCOPES)
            self.written: dict[tuple[tuple[str, Any], ...], int] = {}  # a resource's path -> position of the last write

        def step(self, input: StepInput) -> StepOutput:
            case, resource = input.case, tuple(sorted((input.case.path_parameters or {}).items()))
            if case.meta is None or case.meta.generation.mode.is_positive:
                last = [_linked_position(input), self.written.get(resource) if case.method == "GET" else None]
                positions = [p for p in last if p is not None]
                case.query = {key: value for key, value in (case.query or {}).items() if key != "min_position"}
                case.query |= {"min_position": max(positions)} if positions else {}
                if "tenant" in (case.path_parameters or {}):  # the scenario's own; the config's TENANT is not used
                    case.path_parameters["tenant"] = self.tenant
                if case.operation.label == "POST /v1/delegation/tasks" and isinstance(case.body, dict):
                    case.body.pop("callback_url", None)  # its drawn host's answer is the resolver's: see above
            output = super().step(input)
            if input.transition is not None and output.response.status_code < 300:
                followed.add((input.transition.id.partition(" -> ")[0], case.operation.label))
            if case.method != "GET" and resource and output.response.status_code < 300:
                self.written[resource] = max(self.written.get(resource, 0), _position(output))
            return output

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": patient, "headers": self.headers}  # the user's key, not a drawn one

    Scenario.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            phases=[Phase.generate],
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    missing = [f"{source} -> {target}" for source, target in MUST_FOLLOW if not _followed(followed, source, target)]
    assert not missing, f"links never followed to a 2xx answer: {missing}; followed: {sorted(followed)}"


def _followed(followed: set[tuple[str, str]], source: str, target: str) -> bool:
    return any(s == source and t.startswith(target) for s, t in followed)
