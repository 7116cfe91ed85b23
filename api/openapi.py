"""The OpenAPI document as a contract: what FastAPI's generator cannot say by itself, added in one place.

Every 4xx body is problem+json with the Problem schema; a parameter that may be left out is
documented as its type, not as "its type or null" (a header or query value cannot be null:
generated clients and Schemathesis would send the text `null`); 201/202 answers carry `Location`;
`links` say which operation's answer feeds which next request (a created session to its reads,
a task to its transitions, a tool request to its execution), so generated clients and stateful
testers can follow them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.errors import PROBLEM_JSON, PROBLEM_REF, Problem

LOCATION = {
    "description": "where to read what the command changed",
    "required": True,
    "schema": {"type": "string", "format": "uri-reference", "examples": ["/v1/sessions/0b7c2f4e-..."]},
}
RETRY_AFTER = {
    "description": "seconds to wait before sending the request again",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[0-9]+$", "examples": ["1"]},
}
RETRIED = ("412", "429", "503")  # the statuses that tell the client when to try again

SESSION = {"session_id": "$response.body#/session_id"}
TASK = {"task_id": "$response.body#/task_id"}
EXECUTION = {"request_id": "$response.body#/request_id"}
READ_AFTER = {"min_position": "$response.body#/position"}  # read-your-writes: the read waits for the command
PROFILE = {"role": "$response.body#/role", "deployment_mode": "$response.body#/deployment_mode"}


def _links(**targets: tuple[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    return {name: {"operationId": op, "parameters": params} for name, (op, params) in targets.items()}


_TASK_LINKS = _links(
    GetTask=("getDelegationTask", TASK | READ_AFTER),
    StartTask=("startDelegationTask", TASK),
    CompleteTask=("completeDelegationTask", TASK),
    FailTask=("failDelegationTask", TASK),
)
_SESSION_READS = _links(
    GetSession=("getSession", SESSION | READ_AFTER),
    ListMessages=("listSessionMessages", SESSION | READ_AFTER),
    ListEvents=("listSessionEvents", SESSION),
)
# operationId -> status -> links. The live stream is linked only from the closing: on an open session
# it runs until the session closes, which no client following links should have to wait for.
LINKS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "postMessage": {
        "202": _SESSION_READS
        | _links(
            CloseSession=("closeSession", SESSION),
            CancelReply=("cancelReply", SESSION),
        )
    },
    "closeSession": {"202": _SESSION_READS | _links(StreamSession=("streamSession", SESSION))},
    "cancelReply": {"202": _SESSION_READS},
    "forkSession": {"202": _SESSION_READS},
    "createDelegationTask": {"202": _TASK_LINKS},
    "startDelegationTask": {"202": _TASK_LINKS},
    "completeDelegationTask": {"202": _links(GetTask=("getDelegationTask", TASK | READ_AFTER))},
    "failDelegationTask": {"202": _links(GetTask=("getDelegationTask", TASK | READ_AFTER))},
    "invokeTool": {
        "202": _links(
            GetExecution=("getToolExecution", EXECUTION | READ_AFTER),
            Approve=("approveToolExecution", EXECUTION),
            Deny=("denyToolExecution", EXECUTION),
        )
    },
    "putModelProfile": {
        "200": _links(
            GetProfile=("getModelProfile", PROFILE | READ_AFTER),
            DeleteProfile=("deleteModelProfile", PROFILE),
        )
    },
    "setBudgetLimit": {"200": _links(ListUsage=("listBudgetUsage", {}))},
}


def install(app: FastAPI) -> None:
    """Make /openapi.json say what the app does (see the module docstring); built once, then cached."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()  # FastAPI keeps this very dict as app.openapi_schema
        _integer_bounds(document)
        _problems(document)
        for item in document.get("paths", {}).values():
            for operation in item.values():
                _complete(operation)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _integer_bounds(node: Any) -> None:
    """An integer's bounds as integers. FastAPI's OpenAPI model holds every bound as a float, so `le=600000` reads
    `600000.0`, and a tester reading a float bound may send an integer just past it. The API's integers stay
    within api.schemas.MAX_INT, which a float holds exactly."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node |= {key: int(node[key]) for key in BOUNDS if isinstance(node.get(key), float)}
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


def _problems(document: dict[str, Any]) -> None:
    """The Problem schema in place of FastAPI's own validation error models, which nothing answers with."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas |= problem_schema.pop("$defs", {}) | {"Problem": problem_schema}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _complete(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        parameter["schema"] = _not_null(parameter["schema"])
    for status, response in operation.get("responses", {}).items():
        if status.startswith("4"):  # FastAPI documents its own 422 body, and a `model` under the route's media type
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
        if status in ("201", "202"):
            response.setdefault("headers", {})["Location"] = LOCATION
        if status in RETRIED:
            response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
        if links := LINKS.get(operation.get("operationId", ""), {}).get(status):
            response["links"] = links


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` (anyOf X, null) as X, keeping the title, description and examples said of the whole."""
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) != 1 or len(options) == len(schema.get("anyOf", [])):
        return schema
    only: dict[str, Any] = options[0]
    return {key: value for key, value in schema.items() if key != "anyOf"} | only
