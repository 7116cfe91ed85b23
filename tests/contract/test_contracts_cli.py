"""`agentlog contracts check | register | diff` as CI and developers run them."""

from __future__ import annotations

import json
import shutil

import pytest

from contracts.routing import Routing
from contracts.schemas import AVRO_DIR
from tests.support.cli import agentlog

POSTED = "agentlog.session.MessagePosted"


@pytest.fixture
def cli(servers, subject_prefix):
    def run(*args: str):
        return agentlog(
            "contracts",
            *args,
            "--topic-prefix",
            subject_prefix,
            env={"SCHEMA_REGISTRY_URL": servers.schema_registry_url},
        )

    return run


@pytest.fixture
def retyped(tmp_path):
    """A copy of the contracts where MessagePosted.text became a long: a breaking edit."""
    edited = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, edited)
    path = edited / f"{POSTED}.avsc"
    schema = json.loads(path.read_text())
    next(f for f in schema["fields"] if f["name"] == "text")["type"] = "long"
    path.write_text(json.dumps(schema))
    return edited


def test_check_register_check_round(cli, subject_prefix):
    first = cli("check")
    assert first.returncode == 0, first.stderr
    assert f"{subject_prefix}conversation.inbound-{POSTED}" in first.stdout
    assert "new" in first.stdout

    registered = cli("register")
    assert registered.returncode == 0, registered.stderr
    subjects = len(Routing().subjects())  # one per event type and topic it is published on
    assert f"{subjects} registered, 0 already up to date" in registered.stdout

    again = cli("check")
    assert again.returncode == 0
    assert again.stdout.count("registered (v1)") == subjects
    assert "0 subject(s) differ" in cli("diff").stdout


def test_check_fails_on_an_incompatible_edit_naming_the_field(cli, retyped):
    assert cli("register").returncode == 0

    check = cli("check", "--contracts-dir", str(retyped))

    assert check.returncode == 1
    assert "incompatible" in check.stdout
    assert "field text: type_mismatch" in check.stderr
    assert "2 incompatible subject(s)" in check.stderr  # MessagePosted is on two topics
    register = cli("register", "--contracts-dir", str(retyped))
    assert register.returncode == 1
    assert "nothing registered" in register.stderr
    diff = cli("diff", "--contracts-dir", str(retyped))
    assert "~ text: string -> long" in diff.stdout


def test_an_unparseable_contract_is_named(cli, tmp_path):
    (tmp_path / "agentlog.x.Broken.avsc").write_text('{"type": "record", "name": "Broken"')
    done = cli("check", "--contracts-dir", str(tmp_path))
    assert done.returncode == 2
    assert "a contract does not parse" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_registry_is_one_clear_line(subject_prefix):
    done = agentlog("contracts", "check", "--registry", "http://127.0.0.1:9/apis/ccompat/v7")
    assert done.returncode == 3
    assert "cannot reach the schema registry" in done.stderr
    assert "Traceback" not in done.stderr
