"""The one table from an exception to the CLI's line and exit code (`cli.errors.explain`)."""

from __future__ import annotations

import asyncpg
import httpx
import psycopg
import pytest
import redis.exceptions
from confluent_kafka import KafkaError, KafkaException

from cli.errors import CliError, Exit, explain
from contracts.errors import RegistryUnavailable
from stack import StackError


@pytest.mark.parametrize(
    ("failure", "code", "words"),
    [
        (StackError("kafka did not start", "see its log"), Exit.FAILED, ("kafka did not start", "see its log")),
        (
            redis.exceptions.ConnectionError("Error 111 connecting"),
            Exit.UNREACHABLE,
            ("cannot reach Redis", "REDIS_URL"),
        ),
        (ValueError("Redis URL must specify one of ..."), Exit.USAGE, ("REDIS_URL is not a Redis URL",)),
        (KafkaException(KafkaError(KafkaError._TRANSPORT)), Exit.UNREACHABLE, ("cannot reach Kafka",)),
        (KafkaException(KafkaError(KafkaError._INVALID_ARG)), Exit.USAGE, ("KAFKA_BOOTSTRAP_SERVERS",)),
        (
            ConnectionRefusedError(111, "Connect call failed"),
            Exit.UNREACHABLE,
            ("cannot reach Postgres", "POSTGRES_DSN"),
        ),
        (asyncpg.ClientConfigurationError("invalid DSN: scheme"), Exit.USAGE, ("POSTGRES_DSN is not a Postgres URL",)),
        (psycopg.ProgrammingError('missing "=" after "x" in connection info string'), Exit.USAGE, ("POSTGRES_DSN",)),
        (psycopg.OperationalError('failed: FATAL:  database "x" does not exist'), Exit.USAGE, ("refused",)),
        (psycopg.OperationalError("connection refused"), Exit.UNREACHABLE, ("cannot reach Postgres",)),
        (asyncpg.UndefinedTableError('relation "tenants" does not exist'), Exit.USAGE, ("agentlog db migrate",)),
        (
            RegistryUnavailable("timed out"),
            Exit.UNREACHABLE,
            ("cannot reach the schema registry", "SCHEMA_REGISTRY_URL"),
        ),
        (httpx.ConnectError("refused"), Exit.UNREACHABLE, ("cannot reach the schema registry",)),
    ],
)
def test_a_known_failure_becomes_one_line_with_its_exit_code(failure, code, words):
    explained = explain(failure)

    assert explained is not None
    assert explained.code == code
    line = f"{explained.cause}; fix: {explained.fix}"
    assert "\n" not in line
    for word in words:
        assert word in line


@pytest.mark.parametrize("bug", [KeyError("x"), ValueError("a bug"), OSError("disk full"), RuntimeError("?")])
def test_anything_else_is_a_bug_that_keeps_its_traceback(bug):
    assert explain(bug) is None


def test_a_cli_error_is_itself():
    error = CliError("cause", "fix", Exit.USAGE)

    assert explain(error) is error
