"""`agentlog contracts can-i-deploy`: passes on this code, and fails naming the field and the rule of a break."""

from __future__ import annotations

import json
import shutil

import pytest

from cli.can_i_deploy import current_openapi
from cli.pact_verify import API_PROVIDER
from contracts.pact_files import pact_files
from contracts.schemas import AVRO_DIR
from tests.support.cli import agentlog

pytestmark = pytest.mark.contract


def gate(servers, *args: str):
    env = {"POSTGRES_DSN": servers.postgres_dsn, "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap_servers,
           "REDIS_URL": servers.redis_url}  # fmt: skip
    done = agentlog("contracts", "can-i-deploy", "--registry", servers.schema_registry_url, "--json", *args, env=env)
    return done, {c["name"]: c for c in json.loads(done.stdout)}


def test_the_gate_passes_on_this_code_against_its_own_document(servers, tmp_path):
    base = tmp_path / "openapi.json"
    base.write_text(json.dumps(current_openapi()))
    done, checks = gate(servers, "--openapi-base", str(base))
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(c["ok"] for c in checks.values())
    assert "30 message interaction(s)" in checks["pacts"]["summary"]
    http = sum(p.interactions for p in pact_files() if p.provider == API_PROVIDER)
    assert checks["http-pacts"]["summary"].startswith(f"{http} HTTP interaction(s) with agentlog-api")


def test_a_retyped_avro_field_and_a_removed_response_property_fail_the_gate_naming_them(servers, tmp_path):
    avro = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, avro)
    contract = avro / "agentlog.tool.ToolRequested.avsc"
    schema = json.loads(contract.read_text())
    retyped = next(f for f in schema["fields"] if f["name"] == "timeout_ms")
    retyped["type"], retyped["default"] = "string", "30000"
    contract.write_text(json.dumps(schema))
    document = current_openapi()
    base = json.loads(json.dumps(document))
    path = next(iter(p for p in base["paths"] if "get" in base["paths"][p]))
    base["paths"][path + "/pact-gate-gone"] = base["paths"][path]  # the current document lacks this operation
    (tmp_path / "base.json").write_text(json.dumps(base))

    done, checks = gate(servers, "--contracts-dir", str(avro), "--openapi-base", str(tmp_path / "base.json"),
                        "--check", "avro", "--check", "openapi")  # fmt: skip

    assert done.returncode == 1
    assert list(checks) == ["avro", "openapi"]  # the pacts, verified by the test above, are not run again
    avro_said = "\n".join(checks["avro"]["failures"])
    assert "ToolRequested" in avro_said and "timeout_ms" in avro_said
    openapi_said = "\n".join(checks["openapi"]["failures"])
    assert f"{path}/pact-gate-gone" in openapi_said and "[rule api-path-removed" in openapi_said


def test_an_unknown_check_is_a_usage_error_naming_it_and_the_four():
    done = agentlog("contracts", "can-i-deploy", "--check", "pacts", "--check", "grpc")
    assert done.returncode == 2
    said = " ".join(done.stderr.replace("│", " ").split())  # typer's box wraps the line
    assert "'grpc' is not one of 'avro', 'openapi', 'pacts', 'http-pacts'" in said


def test_the_openapi_check_alone_needs_no_registry(tmp_path):
    base = tmp_path / "openapi.json"
    base.write_text(json.dumps(current_openapi()))
    done = agentlog("contracts", "can-i-deploy", "--check", "openapi", "--openapi-base", str(base), "--json",
                    "--registry", "http://127.0.0.1:9/apis/ccompat/v7")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [c["name"] for c in json.loads(done.stdout)] == ["openapi"]
