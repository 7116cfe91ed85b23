# agentlog routine tasks; `./dev RECIPE` bootstraps .venv first on a fresh machine.
set shell := ["bash", "-euo", "pipefail", "-c"]

export PATH := justfile_directory() + "/.venv/bin:" + env_var('PATH')

# list the recipes
default:
    @just --list

# start the whole system: the private servers (contracts registered, migrations applied) and the relay
up:
    agentlog stack up

# stop everything `up` started
down:
    agentlog stack down

# each server's and process's address, pid, version, health and restart count (exit 0 only when all are healthy)
status:
    agentlog stack status

# the end of a server's log: just logs kafka
logs NAME:
    agentlog stack logs {{NAME}}

# restart one server on its data: just restart registry
restart NAME:
    agentlog stack restart {{NAME}}

# the whole suite with coverage, failing under 90%: most of it on parallel workers, then what restarts servers (starts the servers it needs); with arguments one pytest run, no gate
test *ARGS:
    {{ if ARGS == "" { "python -m tests.support.suite" } else { "pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=0 " + ARGS } }}

# unit tier: no servers
test-unit *ARGS: (_tier "unit" ARGS)

# integration tier: real Postgres, Redis, Kafka and registry
test-integration *ARGS: (_tier "integration" ARGS)

# contract tier
test-contract *ARGS: (_tier "contract" ARGS)

# end-to-end tier
test-e2e *ARGS: (_tier "e2e" ARGS)

# cluster tier: three Kafka brokers, Redis Cluster, relays and projections in several processes, with kills (the suite runs it last)
test-cluster *ARGS: (_tier "cluster" ARGS)

# one tier: its folder alone (collecting the others only to deselect them took a third of the unit tier's time); with
# arguments, the tier's tests among those they select
_tier NAME *ARGS:
    pytest -m {{NAME}} {{ if ARGS == "" { "tests/" + NAME } else { ARGS } }}

# mutation testing of domain/ and contracts/ (the unit tier and the contract tests of the codec and registry, on the servers), score per package (80% killed): just mutate 'domain.*'
mutate *ARGS:
    agentlog stack up
    AGENTLOG_HOME={{justfile_directory()}}/.agentlog mutmut run --max-children 2 {{ARGS}}
    python -m tests.support.mutation_score

# every contract parses and is compatible with what the registry holds
contracts-check *ARGS:
    agentlog contracts check {{ARGS}}

# register new or changed contracts (after the same check)
contracts-register *ARGS:
    agentlog contracts register {{ARGS}}

# field-level differences between the local contracts and the registry
contracts-diff *ARGS:
    agentlog contracts diff {{ARGS}}

# the deploy gate: Avro contracts vs the registry, OpenAPI vs the base document (oasdiff), every pact verified
contracts *ARGS:
    agentlog contracts can-i-deploy {{ARGS}}

# save the OpenAPI document this code serves as the base the gate compares later changes with
contracts-openapi-snapshot:
    python -c 'import json; from cli.can_i_deploy import current_openapi, OPENAPI_FILE; OPENAPI_FILE.write_text(json.dumps(current_openapi(), indent=2, sort_keys=True) + "\n")'

# the Prometheus alert rules, their unit tests and the local scrape config, checked by promtool (Debian's prometheus,
# installed on first use)
alerts-check:
    pytest -q tests/contract/test_prometheus_rules.py

# ruff, mypy and the import-linter layer contracts
lint:
    ruff check .
    ruff format --check .
    mypy
    lint-imports

# format the code
fmt:
    ruff format .
    ruff check --fix .

# run a benchmark: just bench codec (results in bench/results/NAME.json)
bench NAME *ARGS:
    python -m bench.{{NAME}} {{ARGS}}

# the console's screenshots in docs/console/, taken by its browser tests against a fresh runtime
console-screenshots:
    AGENTLOG_CONSOLE_SCREENSHOTS={{justfile_directory()}}/docs/console pytest tests/e2e/test_console.py -q -p no:cacheprovider
