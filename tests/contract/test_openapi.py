"""The OpenAPI document is a contract: its shape, checked statically (the running API: test_schemathesis.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema_rs import Draft202012Validator

from api.app import create_app
from api.schemas import MAX_INT
from api.settings import ApiSettings

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "patch")
NOT_JSON = {"/metrics"}  # Prometheus text exposition; streams are text/event-stream or WebSocket
STREAMING = r"/stream$|/ws$"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document as the app builds it: no server, no connection (the lifespan does not run)."""
    return create_app(ApiSettings(jwt_secret=None, jwt_public_key=None)).openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_models(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a request body may be (a `Model | None` body is anyOf[$ref, null])."""
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    options = schema.get("anyOf", [schema]) if schema else []
    return [resolve(document, option) for option in options if option.get("type") != "null"]


def success(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The operation's success status (the lowest 2xx; a stream may add a 204) and its response."""
    code = min(code for code in operation["responses"] if code.startswith("2"))
    return code, operation["responses"][code]


def not_json(path: str) -> bool:
    return path in NOT_JSON or re.search(STREAMING, path) is not None


def test_the_document_is_openapi_3_1_with_a_description(document):
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "agentlog"
    assert "problem+json" in document["info"]["description"]
    assert len(list(operations(document))) >= 8


def test_every_operation_has_a_summary_a_tag_and_a_unique_id(document):
    ids = []
    for method, path, operation in operations(document):
        assert operation.get("summary", "").strip(), f"{method} {path} has no summary"
        assert operation.get("tags"), f"{method} {path} has no tag"
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


# POSTs that record no event in the store, so they have no position to answer with: done when they answer (200)
RECORD_NOTHING = {"replayDeadLetters"}  # applies a view's dead letters to the view (docs/operations.md)


def test_every_operation_has_a_response_model_for_its_success_status(document):
    for method, path, operation in operations(document):
        code, response = success(operation)
        content = response.get("content", {})
        if not_json(path):
            assert content and "application/json" not in content, f"{method} {path}"
            continue
        schema = content.get("application/json", {}).get("schema")
        assert schema, f"{method} {path} {code} has no response schema"
        assert "$ref" in schema or schema.get("type") in ("object", "array"), f"{method} {path}: {schema}"
        if method == "POST" and path.startswith("/v1/") and operation["operationId"] not in RECORD_NOTHING:
            assert code == "202", f"{method} {path}: commands answer 202 Accepted"
            assert "position" in resolve(document, schema)["properties"], f"{method} {path}"


def test_every_write_under_v1_documents_401_and_422_as_problem_json(document):
    for method, path, operation in operations(document):
        if method == "GET" or not path.startswith("/v1/"):
            continue
        assert {"401", "422"} <= operation["responses"].keys(), f"{method} {path}"
        if "requestBody" in operation:
            assert {"400", "413"} <= operation["responses"].keys(), f"{method} {path} takes a body"
        if "(admin)" in operation["summary"]:
            assert "403" in operation["responses"], f"{method} {path} needs the admin scope"


def test_every_error_response_is_problem_json_with_the_problem_schema(document):
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if not code.startswith("4"):
                continue
            content = response.get("content", {})
            assert list(content) == [PROBLEM_JSON], f"{method} {path} {code}: {list(content)}"
            assert content[PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}, f"{method} {path} {code}"
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert {"field", "errors"} <= problem["properties"].keys()


def test_every_authenticated_operation_documents_401(document):
    missing = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if operation.get("security") and "401" not in operation["responses"]
    ]
    assert missing == []


def test_credentials_are_security_schemes_not_header_parameters(document):
    """Swagger's Authorize button and generated clients fill these in; as plain header parameters they were
    generated values sent next to the real key."""
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == schemes["ApiKey"] | {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerJWT"] == schemes["BearerJWT"] | {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for method, path, operation in operations(document):
        headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
        assert not headers & {"authorization", "x-api-key"}, f"{method} {path}"
        if path.startswith("/v1/"):
            assert operation["security"] == [{"ApiKey": []}, {"BearerJWT": []}], f"{method} {path}"


def test_operation_ids_are_readable_camel_case(document):
    ids = {operation["operationId"] for _, _, operation in operations(document)}
    assert {"postMessage", "getSession", "createDelegationTask", "startDelegationTask", "invokeTool"} <= ids
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", i) for i in ids), sorted(ids)


def test_links_name_operations_and_parameters_that_exist(document):
    by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
    linked = set()
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                target = by_id[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, f"{method} {path} {code} {name}"
                body = resolve(document, response["content"]["application/json"]["schema"])
                for expression in link["parameters"].values():
                    assert expression.removeprefix("$response.body#/") in body["properties"], expression
                linked.add(link["operationId"])
    transitions = {"startDelegationTask", "completeDelegationTask", "failDelegationTask", "getDelegationTask"}
    assert transitions | {"getSession", "listSessionMessages", "getToolExecution", "approveToolExecution"} <= linked


def test_every_accepted_command_answers_with_a_location(document):
    for method, path, operation in operations(document):
        for code in {"201", "202"} & operation["responses"].keys():
            assert operation["responses"][code]["headers"]["Location"]["required"], f"{method} {path}"


def test_optional_parameters_are_not_documented_as_nullable(document):
    """A header or query value cannot be null; `anyOf [X, null]` made clients send the text `null`."""
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert "anyOf" not in parameter["schema"], f"{method} {path} {parameter['name']}"


def test_every_operation_under_v1_documents_503_with_retry_after(document):
    for method, path, operation in operations(document):
        if path.startswith("/v1/"):
            assert operation["responses"]["503"]["headers"]["Retry-After"]["required"], f"{method} {path}"


def test_request_bodies_give_examples_for_their_required_fields(document):
    """A client reading /docs sees a value for everything it must send."""
    checked = 0
    for method, path, operation in operations(document):
        for model in body_models(document, operation):
            assert model.get("additionalProperties") is False, f"{method} {path}: unknown fields must be refused"
            for name in model.get("required", []):
                field = resolve(document, model["properties"][name])
                assert field.get("examples") or field.get("type") == "array", f"{method} {path}: {name} has no example"
                checked += 1
    assert checked >= 2


def test_every_example_in_the_document_is_valid_against_its_own_schema(document):
    """An example that its schema refuses would teach clients to send 422s."""

    def check(where: str, schema: dict[str, Any]) -> int:
        validator = Draft202012Validator({**schema, "components": document["components"]})
        for example in schema.get("examples", []):
            assert validator.is_valid(example), f"{where}: example {example!r} does not match {schema}"
        return len(schema.get("examples", []))

    seen = 0
    for name, model in document["components"]["schemas"].items():
        for prop, schema in model.get("properties", {}).items():
            seen += check(f"{name}.{prop}", schema)
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            seen += check(f"{method} {path} {parameter['name']}", parameter["schema"])
    assert seen >= 5


def test_integer_bounds_are_exact_integers_in_the_interoperable_range(document):
    """A float bound (FastAPI's model writes `le=600000` as 600000.0) let Schemathesis send an integer past it."""

    def integers(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "integer":
                yield node
            for value in node.values():
                yield from integers(value)
        elif isinstance(node, list):
            for value in node:
                yield from integers(value)

    bounds = [(key, schema[key]) for schema in integers(document) for key in ("minimum", "maximum") if key in schema]
    assert ("maximum", MAX_INT) in bounds
    assert all(type(value) is int and abs(value) <= MAX_INT for _, value in bounds), bounds
