"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from authz.install import install_authz
from finance.core import migrate, outbox
from finance.core.api_docs import install_api_docs
from finance.core.db import get_engine, session_factory
from finance.core.logging import configure_logging
from finance.core.observability import Metrics, ObservabilityMiddleware
from finance.core.problems import install_problem_handlers, problem
from finance.core.settings import Settings, get_settings
from finance.demands.endpoints import router as demands_router
from finance.enterprises.endpoints import router as enterprise_router
from finance.govdata.data_api import router as data_call_router
from finance.govdata.endpoints import catalogue_router, internal_router
from finance.ingestion.endpoints import router as ingestion_router
from finance.lending.endpoints import bank_router as lending_bank_router
from finance.lending.endpoints import enterprise_router as lending_router
from finance.warmup import freeze, unfreeze, warm
from products.endpoints import router as products_router
from products.match_endpoints import router as enterprise_view_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = get_engine(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Off the event loop: loading the model reads files and the database.
        await anyio.to_thread.run_sync(warm, app.state.session_factory, settings.resolved_data_dir)
        freeze()
        try:
            yield
        finally:
            unfreeze()

    app = FastAPI(
        lifespan=lifespan,
        title="SME financing data-service platform",
        version="0.1.0",
        description=(
            "Government data about enterprises, shared with banks under the enterprise's "
            "consent. Banks authenticate with OAuth 2 under the FAPI 2.0 security profile "
            "(PAR, PKCE, private_key_jwt, DPoP-bound tokens; metadata at "
            "/.well-known/oauth-authorization-server). Errors are RFC 9457 problem "
            "details. The portal for enterprises, banks' staff and ops is at /login."
        ),
        # The reference pages are served without a CDN (finance/core/api_docs.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    # Jobs the requests ask for leave through the outbox, kicked after each commit.
    app.state.outbox = outbox.Relay(engine, outbox.celery_sender(settings))
    outbox.install(app.state.session_factory, app.state.outbox)
    app.state.metrics = metrics
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    install_problem_handlers(app)
    install_api_docs(app)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """People who open the platform's address land on the portal's login page, which
        links the API reference (/docs) for banks' integration engineers."""
        return RedirectResponse("/login", status_code=307)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz() -> Any:
        """The database answers and its schema is at the newest migration."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current, head = migrate.current_revision(engine), migrate.head_revision(engine)
        except Exception as exc:  # any failure to reach the database means not ready
            return problem(503, f"database unreachable: {type(exc).__name__}")
        if current != head:
            return problem(
                503,
                f"database schema at {current}, migrations head is {head}; run `finance init`",
                current_revision=current,
                head_revision=head,
            )
        return {"status": "ready", "database": engine.dialect.name, "revision": current}

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # The data calls first: the busiest routes, matched before the others are tried.
    app.include_router(data_call_router)
    install_authz(app, settings, engine)
    app.include_router(catalogue_router)
    app.include_router(demands_router)
    app.include_router(products_router)
    app.include_router(enterprise_view_router)
    if settings.internal_api_enabled:
        app.include_router(enterprise_router)
        app.include_router(internal_router)
        app.include_router(ingestion_router)
    app.include_router(lending_router)
    app.include_router(lending_bank_router)
    return app
