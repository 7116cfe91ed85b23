"""Policy decisions in Rego, per tenant from files, reloaded on change, failing closed unless a tenant is fail-open."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from workers.tools.policy import Decision, FailClosed, PolicyError, RegoFiles, decision_of

DEFAULT = Path(__file__).parents[4] / "policies" / "default.rego"
APPROVALS = """package agentlog.tools
import rego.v1
default decision := "deny"
default reason := "not on acme's list"
decision := "allow" if input.tool == "echo"
reason := "echo is harmless" if input.tool == "echo"
decision := "approve" if {
    input.tool == "http_fetch"
    not startswith(input.arguments.url, "https://docs.")
}
reason := "fetches outside the docs need a person" if input.tool == "http_fetch"
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    shutil.copy(DEFAULT, tmp_path / "default.rego")
    return tmp_path


def call(tool: str, **arguments: object) -> dict[str, object]:
    return {"tenant": "acme", "tool": tool, "arguments": arguments, "request_id": "r", "timeout_ms": 1000}


async def test_the_default_policy_allows_the_built_ins_and_denies_the_rest(policies):
    rego = RegoFiles(policies)
    echo, shell = await rego.decide("acme", call("echo", text="hi")), await rego.decide("acme", call("shell"))
    assert echo == Decision("allow", "echo is a built-in tool, allowed for every tenant", "rego:default.rego")
    assert (shell.verdict, shell.policy) == ("deny", "rego:default.rego")
    assert "policies/<tenant>.rego" in shell.reason


async def test_a_tenants_own_file_decides_for_it_allowing_denying_or_asking_a_person(policies):
    (policies / "acme.rego").write_text(APPROVALS)
    rego = RegoFiles(policies)

    assert await rego.decide("acme", call("echo")) == Decision("allow", "echo is harmless", "rego:acme.rego")
    assert await rego.decide("acme", call("http_fetch", url="https://x.example/")) == Decision(
        "approve", "fetches outside the docs need a person", "rego:acme.rego"
    )
    assert (await rego.decide("acme", call("calculator"))).verdict == "deny"
    assert (await rego.decide("globex", call("calculator"))).verdict == "allow"  # globex has only the default


async def test_an_edited_policy_applies_to_the_next_call_without_a_restart(policies):
    rego = RegoFiles(policies)
    assert (await rego.decide("acme", call("shell"))).verdict == "deny"

    own = policies / "acme.rego"
    own.write_text(APPROVALS.replace('input.tool == "echo"', 'input.tool == "shell"'))
    assert await rego.decide("acme", call("shell")) == Decision("allow", "echo is harmless", "rego:acme.rego")

    own.write_text(APPROVALS)
    stat = own.stat()
    os.utime(own, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a second edit within the clock's tick
    assert (await rego.decide("acme", call("shell"))).verdict == "deny"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("package agentlog.tools\n decision := {{", "does not compile"),
        ('package agentlog.tools\nimport rego.v1\ndecision := "allow" if input.tool == "never"\n', "undefined"),
        ('package agentlog.tools\ndecision := "maybe"\n', "must be one of allow, deny, approve"),
        ('package agentlog.tools\ndecision := "allow"\nreason := 3\n', "reason must be a string"),
        ('package elsewhere\ndecision := "allow"\n', "no value"),
        (
            'package agentlog.tools\nimport rego.v1\ndecision := "allow" if true\ndecision := "deny" if true\n',
            "acme.rego",
        ),
    ],
    ids=["syntax", "undefined", "bad-verdict", "bad-reason", "other-package", "conflict"],
)
async def test_a_broken_policy_is_an_error_and_fail_closed_denies_naming_it(policies, source, says):
    (policies / "acme.rego").write_text(source)
    with pytest.raises(PolicyError, match=r"acme\.rego") as raised:
        await RegoFiles(policies).decide("acme", call("echo"))
    assert says in str(raised.value)

    denied = await FailClosed(RegoFiles(policies)).decide("acme", call("echo"))
    assert (denied.verdict, denied.policy) == ("deny", "fail-closed")
    assert str(raised.value) in denied.reason


async def test_no_policy_file_at_all_denies(tmp_path):
    denied = await FailClosed(RegoFiles(tmp_path / "nowhere")).decide("acme", call("echo"))
    assert denied.verdict == "deny"
    assert "no policy: cannot read" in denied.reason


async def test_a_fail_open_tenant_is_allowed_when_its_policy_fails_and_says_so(policies):
    (policies / "acme.rego").write_text("package agentlog.tools\n decision := {{")
    (policies / "globex.rego").write_text("package agentlog.tools\n decision := {{")
    policy = FailClosed(RegoFiles(policies), fail_open={"acme"})

    opened, closed = await policy.decide("acme", call("shell")), await policy.decide("globex", call("shell"))
    assert (opened.verdict, opened.policy) == ("allow", "fail-open")
    assert "tenant acme is fail-open" in opened.reason
    assert closed.verdict == "deny"


async def test_a_fail_open_tenant_still_gets_what_a_working_policy_decides(policies):
    denied = await FailClosed(RegoFiles(policies), fail_open={"acme"}).decide("acme", call("shell"))
    assert (denied.verdict, denied.policy) == ("deny", "rego:default.rego")


def test_an_answer_without_a_reason_gets_one_naming_the_verdict():
    assert decision_of({"decision": "approve"}, "opa:x") == Decision("approve", "policy answered approve", "opa:x")
    with pytest.raises(PolicyError, match="no value"):
        decision_of(None, "opa:x")
