"""`agentlog` refusing bad settings and servers that are down or wrong: one line, a documented exit code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from importlib import metadata
from urllib.parse import urlsplit

import pytest

from cli.main import COMMANDS
from contracts.routing import Routing
from projections.views import VIEWS
from tests.support.cli import AGENTLOG, agentlog, agentlog_process, child_env

FAILED, USAGE, UNREACHABLE = 1, 2, 3


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The refusal: exit `code`, one `error: ...; fix: ...` line on stderr naming `words`, no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "; fix: " in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def own_names(unique: str) -> dict[str, str]:
    """A topic and Redis key prefix nothing else uses: no subjects registered, no views, no dead letters."""
    return {"AGENTLOG_TOPIC_PREFIX": f"t{unique}.", "AGENTLOG_REDIS_PREFIX": f"test:{unique}:"}


def test_check_against_a_url_that_is_not_a_registry_fails(servers):
    parts = urlsplit(servers.schema_registry_url)
    root = f"{parts.scheme}://{parts.netloc}/"  # the /apis/ccompat/v7 part left out

    done = agentlog("contracts", "check", "--registry", root)

    one_line(done, USAGE, root, "does not answer like a Confluent-compatible schema registry", "/apis/ccompat/v7")
    assert "compatible" not in done.stdout


def test_a_registry_url_without_a_scheme_is_one_line():
    done = agentlog("contracts", "diff", "--registry", "localhost:18081")

    one_line(done, USAGE, "'localhost:18081' is not an http(s) URL", "--registry")


def test_an_unreachable_registry_is_exit_3():
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"

    one_line(agentlog("contracts", "diff", "--registry", url), UNREACHABLE, "cannot reach the schema registry")


def test_a_contracts_dir_without_the_contracts_is_one_line(servers, tmp_path):
    done = agentlog("contracts", "check", "--contracts-dir", str(tmp_path), env=servers.as_env())

    one_line(done, USAGE, str(tmp_path), "has no contract for", "routed event type(s)", "--contracts-dir")


def test_projections_status_with_redis_down_names_redis(servers):
    env = {**servers.as_env(), "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}

    one_line(agentlog("projections", "status", env=env), UNREACHABLE, "cannot reach Redis", "REDIS_URL")


def test_projections_status_with_kafka_down_names_kafka(servers, own_names):
    env = {**servers.as_env(), **own_names, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}

    done = agentlog_process("projections", "status", env=env)  # librdkafka writes to fd 2: a process shows it

    one_line(done, UNREACHABLE, "cannot reach Kafka", "KAFKA_BOOTSTRAP_SERVERS")  # librdkafka's own noise held back


def test_dead_letters_with_kafka_down_names_kafka(servers, own_names):
    env = {**servers.as_env(), **own_names, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}

    done = agentlog_process("projections", "dlq", "list", "sessions", env=env)  # as above

    one_line(done, UNREACHABLE, "cannot reach Kafka", "KAFKA_BOOTSTRAP_SERVERS")


@pytest.mark.parametrize(
    ("dsn", "args"),
    [("garbage", ("tenants", "keys", "revoke", "x")), ("garbage", ("db", "migrate"))],
)
def test_a_postgres_dsn_that_is_not_one_is_a_bad_setting(dsn, args):
    one_line(agentlog(*args, env={"POSTGRES_DSN": dsn}), USAGE, "POSTGRES_DSN is not a Postgres URL")


def test_a_redis_url_that_is_not_one_is_a_bad_setting(servers):
    env = {**servers.as_env(), "REDIS_URL": "localhost:6379"}

    one_line(agentlog("projections", "status", env=env), USAGE, "REDIS_URL is not a Redis URL")


def test_a_bad_log_setting_stops_every_command_naming_it():
    done = agentlog("contracts", "check", env={"AGENTLOG_LOG_FORMAT": "xml"})

    one_line(done, USAGE, "AGENTLOG_LOG_FORMAT='xml'", "'text' or 'json'")


def test_version_and_the_exit_codes_in_help():
    version = agentlog_process("--version")  # the console script itself
    helped = agentlog("--help")

    assert version.returncode == 0
    assert version.stdout.strip() == f"agentlog {metadata.version('agentlog')}"
    assert helped.returncode == 0
    said = words(helped.stdout)
    assert "Exit codes: 0 done, 1 failed or unhealthy, 2 bad usage or setting, 3 a server unreachable" in said
    for name, (_, _, says) in COMMANDS.items():  # every sub-command listed with its line of help
        assert f"{name} {says}" in said, name
    for name in ("stack", "relay"):  # a group and a single command: their own help says the same
        assert COMMANDS[name][2] in words(agentlog(name, "--help").stdout), name


def words(text: str) -> str:
    """A help page's words, one space apart (rich's boxes and line wrapping left out)."""
    return " ".join(text.replace("│", " ").split())


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    """`agentlog ... | head`, once head has ended: exit 1 and nothing on stderr (not a server said to be down)."""
    for args in (("stack", "status", "--json"), ("--help",)):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line is written
        with subprocess.Popen([str(AGENTLOG), *args], stdout=write, stderr=subprocess.PIPE, env=child_env(),
                              text=True) as done:  # fmt: skip
            os.close(write)
            _, said = done.communicate(timeout=60)
        assert (done.returncode, said) == (1, ""), (args, said)


def test_listings_print_json(servers, own_names):
    env = {**servers.as_env(), **own_names}

    check = agentlog("contracts", "check", "--json", env=env)
    diff = agentlog("contracts", "diff", "--json", env=env)
    status = agentlog("projections", "status", "--json", env=env)
    letters = agentlog("projections", "dlq", "list", "sessions", "--json", env=env)

    for done in (check, diff, status, letters):
        assert done.returncode == 0, done.stderr
    subjects = json.loads(check.stdout)
    assert len(subjects) == len(Routing().subjects())
    assert {s["verdict"] for s in subjects} == {"new"}  # nothing is registered under this prefix
    assert all(s["subject"].startswith(own_names["AGENTLOG_TOPIC_PREFIX"]) for s in subjects)
    assert {d["registered_version"] for d in json.loads(diff.stdout)} == {None}
    views = json.loads(status.stdout)
    assert [v["view"] for v in views] == list(VIEWS)
    assert {v["health"] for v in views} == {"stopped"}  # no runner works under this prefix
    assert json.loads(letters.stdout) == []
