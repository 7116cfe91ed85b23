"""The FastAPI app factory: connects the event store, Redis and the registry, mounts one router per resource."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import console, docs, errors, openapi, scrape
from api.auth import Authenticator
from api.deps import Services
from api.middleware import RequestGuard
from api.routes import admin, budgets, delegation, model_profiles, operations, sessions, streams, tools, traces
from api.routes.operations_admin import router as operations_admin_router
from api.settings import ApiSettings
from api.tenants import Tenants
from contracts import registry
from contracts.codec import EventCodec
from contracts.routing import Routing
from eventstore.store import PostgresEventStore
from projections import queries as read_models
from projections.queries import ReadModels

DESCRIPTION = """
agentlog records what an agent platform does as domain events and serves it back.

Commands (POST, PUT, DELETE) are recorded in the event store and answer with the store
`position` of what they recorded; queries read Redis views built from the events, and accept
`min_position` to wait for a position (read-your-writes). Every POST takes an
`Idempotency-Key`. Errors are `application/problem+json`.

Authenticate with an API key (`X-API-Key: alk_...`) or a bearer token (`Authorization: Bearer ...`,
a JWT with `tenant` and `scope` claims). Every resource belongs to the caller's tenant; another
tenant's resource answers 404.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ApiSettings = app.state.settings
    codec = EventCodec(registry.connect(settings.schema_registry_url), Routing(settings.topic_prefix))
    codec.resolve()  # fail fast when a contract is not registered
    store = await PostgresEventStore.connect(
        settings.postgres_dsn, codec, schema=settings.db_schema, pool_size=settings.api_pool_size
    )
    client = read_models.connect(settings.redis_url)
    tenants = Tenants(store.pool)
    app.state.services = Services(
        settings, store, ReadModels(client, settings.redis_prefix), tenants, Authenticator(tenants, settings)
    )
    app.state.measured = scrape.Measured(app.state.services)
    # what start-up built lives as long as the process: keep it out of the collector's full passes,
    # which otherwise stall requests for tens of milliseconds under load (p99)
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        await app.state.measured.close()
        await client.aclose()
        await store.close()


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API on the servers `settings` name (default: from the environment)."""
    app = FastAPI(
        title="agentlog",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        docs_url=None,  # api/docs.py serves them without a CDN
        # FastAPI's own OpenTelemetry server span per request (named by its route, a child of the caller's
        # traceparent) once observability.tracing set a provider; its per-dependency spans would double a
        # request's spans, and metrics are Prometheus's (api/middleware.py)
        telemetry={"operation_spans": False, "metrics": False, "logs": False},
        redoc_url=None,
        openapi_tags=[
            {"name": "sessions", "description": "Conversation sessions, their messages and live replies"},
            {"name": "tools", "description": "Tool invocations and their outcomes"},
            {"name": "budgets", "description": "Daily token budgets"},
            {"name": "delegation", "description": "Tasks delegated to workers"},
            {"name": "model profiles", "description": "Which model serves a role in a deployment mode"},
            {"name": "admin", "description": "The tenant's event log, for scripts (admin scope)"},
            {"name": "traces", "description": "A request's trace across the asynchronous path, as a waterfall"},
            {"name": "operations", "description": "Health and metrics"},
        ],
    )
    app.state.settings = settings or ApiSettings()
    errors.install(app)
    openapi.install(app)
    docs.install(app)
    console.install(app)
    for router in (sessions.router, streams.router, tools.router, budgets.router, delegation.router, admin.router):
        app.include_router(router, prefix="/v1")
    app.include_router(model_profiles.router, prefix="/v1")
    app.include_router(operations_admin_router, prefix="/v1")
    app.include_router(traces.router, prefix="/v1")
    app.include_router(operations.router)
    app.add_middleware(RequestGuard, max_body=app.state.settings.api_max_body)
    return app
