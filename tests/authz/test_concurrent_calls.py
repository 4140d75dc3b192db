"""Data calls arriving together, from several threads of two server instances (each with
its own engine and ledger writer, as two processes have): the daily limit is exact, every
call allowed or refused is in the ledger once, and the chain verifies."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from authz.ledger import service as ledger
from authz.models import DailyCalls, LedgerEntry
from finance.app import create_app
from finance.core import db
from finance.core.settings import Settings
from tests.authz.support import BASE, World, data_token, dpop_proof, register_client

TAX = "/api/v1/data/enterprises/{uscc}/tax"
LIMIT = 25
CALLS = 64


@pytest.fixture
def second_server(world: World, settings: Settings) -> Any:
    """Another app on the same database with an engine of its own."""
    db._engine_for.cache_clear()
    app = create_app(settings.model_copy(update={"public_url": BASE}))
    app.state.clock = world.clock
    with TestClient(app, base_url=BASE) as http:
        yield http
    app.state.engine.dispose()


def test_concurrent_calls_keep_the_daily_limit_and_the_chain(
    world: World, second_server: TestClient
) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank, max_calls_per_day=LIMIT)
    access = token["access_token"]
    path = TAX.format(uscc=world.uscc)
    # Every proof signed up front: each call carries its own unique one.
    proofs = [
        dpop_proof(bank.dpop_key, "GET", BASE + path, now=world.now, access_token=access)
        for _ in range(CALLS)
    ]
    servers = [world.http, second_server]

    def call(index: int) -> int:
        response = servers[index % 2].get(
            path, headers={"Authorization": f"DPoP {access}", "DPoP": proofs[index]}
        )
        if response.status_code != 200:
            assert response.json()["error"] == "daily_limit_exceeded", response.text
        return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(call, range(CALLS)))

    assert statuses == {200: LIMIT, 429: CALLS - LIMIT}
    with world.session() as session:
        outcomes = dict(
            session.execute(
                select(LedgerEntry.outcome, func.count())
                .where(LedgerEntry.action == "data_call", LedgerEntry.consent_id == consent_id)
                .group_by(LedgerEntry.outcome)
            ).all()
        )
        assert outcomes == {"allowed": LIMIT, "refused": CALLS - LIMIT}
        assert session.scalar(select(DailyCalls.calls)) == LIMIT
        verification = ledger.verify(session)
        assert verification.intact, verification.broken
