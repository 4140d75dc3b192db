"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from authz.install import install_authz
from finance.core import migrate, outbox
from finance.core.db import get_engine, session_factory
from finance.core.logging import configure_logging
from finance.core.observability import Metrics, ObservabilityMiddleware
from finance.core.problems import install_problem_handlers, problem
from finance.core.settings import Settings, get_settings
from finance.demands.endpoints import router as demands_router
from finance.enterprises.endpoints import router as enterprise_router
from finance.govdata.data_api import DataCallRoutes
from finance.govdata.data_api import router as data_call_router
from finance.govdata.endpoints import catalogue_router, internal_router
from finance.ingestion.endpoints import router as ingestion_router
from finance.lending.endpoints import bank_router as lending_bank_router
from finance.lending.endpoints import enterprise_router as lending_router
from products.endpoints import router as products_router
from products.match_endpoints import router as enterprise_view_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = get_engine(settings)
    metrics = Metrics()

    app = FastAPI(
        title="SME financing data-service platform",
        version="0.1.0",
        description=(
            "Government data about enterprises, shared with banks under the enterprise's "
            "consent. Errors are RFC 9457 problem details."
        ),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    # Jobs the requests ask for leave through the outbox, kicked after each commit.
    app.state.outbox = outbox.Relay(engine, outbox.celery_sender(settings))
    outbox.install(app.state.session_factory, app.state.outbox)
    app.state.metrics = metrics
    # Inside the observability middleware (request ids, logs, metrics), before the router.
    app.add_middleware(DataCallRoutes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    install_problem_handlers(app)

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

    install_authz(app, settings, engine)
    app.include_router(catalogue_router)
    app.include_router(data_call_router)
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
