"""Provider verification of pacts with pact-python's Verifier: the relay's messages and the API's HTTP pacts.

`verify_relay` replays every message interaction of the pacts whose provider is the relay against
the messages `relay_messages.produce` read off Kafka. `verify_api` replays every HTTP interaction of
the pacts whose provider is the API against a running API (`provider.provider_api`, or the tests'),
setting up each provider state through real commands (`api_states`) behind a local state endpoint.

With PACT_BROKER_BASE_URL set, the pacts come from that broker (PACT_BROKER_USERNAME / _PASSWORD /
_TOKEN, read by pact-python itself; consumer versions of the main branch and those deployed or
released, pending pacts included) instead of the files, and with PACT_PUBLISH_VERIFICATION_RESULTS=true
the results are published to it under the provider version PACT_PROVIDER_VERSION (default: the git
commit) and branch PACT_PROVIDER_BRANCH (default: the git branch).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pact import Verifier

from agentlog.client import Client
from contracts.messages import PROVIDER, STATE
from contracts.pact_files import PactFile

API_PROVIDER = "agentlog-api"  # the provider of agentlog.client's HTTP pacts
PROFILE = {"model": "gpt-4o-mini", "base_url": "https://llm.example.com", "api_path": "/v1/chat/completions",
           "temperature": 0.2, "extras": {"max_tokens": "1024"}}  # fmt: skip
State = Callable[[], dict[str, Any]]


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
    return _verify(verifier, PROVIDER, mine)


def verify_api(pacts: Sequence[PactFile], url: str, tenant: Callable[[], tuple[str, str]]) -> Verification:
    """Every interaction of the API's pacts replayed against the API at `url`, its states set up by `api_states`.

    `tenant()` makes a tenant and an API key with the scopes admin, approve and platform-admin.
    """
    mine = [p for p in pacts if p.provider == API_PROVIDER]
    own, key = tenant()
    with Client(url, api_key=key) as client, state_server(api_states(client, own, key, tenant)) as states_url:
        verifier = Verifier(API_PROVIDER, host="127.0.0.1").add_transport(url=url)
        verifier.state_handler(states_url, body=True).set_request_timeout(30_000)
        return _verify(verifier, API_PROVIDER, mine)


def _verify(verifier: Verifier, provider: str, pacts: Sequence[PactFile]) -> Verification:
    """Verify `pacts` (or, with PACT_BROKER_BASE_URL, the broker's pacts of `provider`), publishing when asked."""
    broker = os.environ.get("PACT_BROKER_BASE_URL")
    if broker:
        selected = verifier.broker_source(broker, selector=True)
        selected.consumer_versions('{"mainBranch": true}', '{"deployedOrReleased": true}').include_pending()
        _publish_options(selected.build())
    else:
        for pact in pacts:
            verifier.add_source(pact.path)
    result = Verification(provider, broker or "contracts/pacts", sum(p.interactions for p in pacts))
    try:
        verifier.verify()
    except RuntimeError as e:
        result.failures = _failures(verifier) or [str(e)]
    return result


def api_states(client: Client, own: str, key: str, tenant: Callable[[], tuple[str, str]]) -> dict[str, State]:
    """Each provider state the API's pacts name, set up through real commands; each answers its injected values.

    `client` speaks for the tenant `own` with the API key `key`; `tenant()` makes another such tenant. A
    tool execution reaches `awaiting_approval` through the real tool executor, whose policy must leave
    `echo` to a person (as `provider.POLICY` does).
    """

    def open_session(other: Client = client) -> dict[str, Any]:
        sent = other.post_message("What changed in the Q3 report?", persona_id="helper")
        other.get_session(sent.session_id, min_position=sent.position)
        other.list_messages(sent.session_id, min_position=sent.position)  # the transcript view too
        return {"session_id": str(sent.session_id)}

    def alone() -> dict[str, Any]:
        _, other_key = tenant()
        with Client(client.base_url, api_key=other_key) as other:
            return {"api_key": other_key, **open_session(other)}

    def awaiting_approval() -> dict[str, Any]:
        invoked = client.invoke_tool("echo", {"text": "hello"})
        deadline, request = time.monotonic() + 30, invoked.request_id
        while client.get_tool_execution(request, min_position=invoked.position).status != "awaiting_approval":
            if time.monotonic() > deadline:
                raise TimeoutError("no tool executor put the echo call up for approval in 30 s (is one running?)")
            time.sleep(0.05)
        return {"request_id": str(invoked.request_id)}

    def task(*, running: bool) -> dict[str, Any]:
        created = client.create_task("Summarise the Q3 report", "Three bullet points.")
        last = client.start_task(created.task_id, "w-1") if running else created
        client.get_task(created.task_id, min_position=last.position)
        return {"task_id": str(created.task_id)}

    def spent(persona: str) -> dict[str, Any]:
        client.set_budget_limit(own, 0, persona_id=persona)
        return {}

    def profile() -> dict[str, Any]:
        put = client.put_model_profile("summarizer", "cloud", **PROFILE)
        client.get_model_profile("summarizer", "cloud", min_position=put.position)
        return {}

    return {
        "a tenant whose API key has the admin, approve and platform-admin scopes": lambda: {
            "api_key": key,
            "tenant": own,
        },
        "an open session": open_session,
        "a tenant whose API key has one open session": alone,
        "persona frugal has a daily budget of 0 tokens": lambda: spent("frugal"),
        "a tool execution awaiting approval": awaiting_approval,
        "a model profile for summarizer in cloud": profile,
        "a queued task": lambda: task(running=False),
        "a running task": lambda: task(running=True),
    }


@contextmanager
def state_server(states: Mapping[str, State]) -> Iterator[str]:
    """The provider-state endpoint the verifier POSTs `{"state", "params", "action"}` to; it answers the
    state's values as JSON (what pact-python's function handlers cannot: they answer nothing)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            known = asked.get("state") in states
            values = states[asked["state"]]() if known and asked.get("action", "setup") == "setup" else {}
            body = json.dumps(values if known else {"error": f"unknown provider state {asked.get('state')!r}"})
            self.send_response(200 if known else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="pact-states", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pact-states"
    finally:
        server.shutdown()
        thread.join(10)


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
