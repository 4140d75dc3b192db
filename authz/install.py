"""Mounting the authorization layer on the FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from authz.accounts.endpoints import router as accounts_router
from authz.clock import Clock, system_clock
from authz.consents.endpoints import bank_router as consents_router
from authz.consents.endpoints import enterprise_router as my_consents_router
from authz.ledger.endpoints import router as ledger_router
from authz.oauth.endpoints import router as oauth_router
from authz.runtime import AuthzRuntime
from authz.webhooks.endpoints import router as events_router
from finance.core.settings import Settings


def install_authz(
    app: FastAPI, settings: Settings, engine: Engine, clock: Clock = system_clock
) -> None:
    app.state.authz = AuthzRuntime.build(settings, engine)
    app.state.clock = clock
    for router in (
        oauth_router,
        accounts_router,
        consents_router,
        my_consents_router,
        ledger_router,
        events_router,
    ):
        app.include_router(router)
