"""The demand-market test world: two enterprises (Zhengzhou and Pingdingshan), their
representatives, ops (province-wide and the Pingdingshan branch), and banks whose online
products fit the standard demand (``support.DEMAND``) to different degrees, or not at all.

Expected fit of the standard demand (mortgage offered; enterprise in 410100, section C,
small), best first:

| bank | product | fit |
|---|---|---|
| B1 | mortgage, city 410100, industry C (and a pure-credit product fitting worse) | 14 |
| B2 | mortgage, no targets | 8 |
| B3 | pure credit, city 410100, size small | 6 |
| B4 | pure credit, no targets, from 3.5 % | 0 |
| B5 | pure credit, no targets, from 4.0 % | 0 |

and banks that never fit: X1 guaranteed (not offered), X2 only Pingdingshan, X3 amount
too small, X4 term too short, X5 only agriculture, X6 only medium firms, X7 a fitting
product never approved (still under review).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from authz import passwords
from authz.clock import FrozenClock
from authz.models import Role, User, UserKind
from finance.app import create_app
from finance.core.db import session_factory
from finance.core.settings import Settings
from tests.authz.support import BASE, World, add_enterprise
from tests.demands.support import Market, add_bank, product

FITTING = ("B1", "B2", "B3", "B4", "B5")
NEVER = ("X1", "X2", "X3", "X4", "X5", "X6", "X7")
MarketFactory = Callable[..., Market]


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


def build_catalogue(market: Market, now: dt.datetime) -> None:
    with market.world.sessions.begin() as session:
        for code in (*FITTING, *NEVER):
            market.banks[code] = add_bank(session, code, now)
        b = market.banks
        market.products["B1"] = product(
            session,
            b["B1"],
            "B1-M",
            now,
            guarantee="mortgage",
            cities=["410100"],
            industries=["C"],
        )
        product(session, b["B1"], "B1-P", now, rate_min_pct="3.000")
        market.products["B2"] = product(session, b["B2"], "B2-M", now, guarantee="mortgage")
        market.products["B3"] = product(
            session, b["B3"], "B3-P", now, cities=["410100"], sizes=["small"]
        )
        market.products["B4"] = product(session, b["B4"], "B4-P", now, rate_min_pct="3.500")
        market.products["B5"] = product(session, b["B5"], "B5-P", now, rate_min_pct="4.000")
        product(session, b["X1"], "X1-G", now, guarantee="guaranteed")
        product(session, b["X2"], "X2-P", now, cities=["410400"])
        product(
            session, b["X3"], "X3-P", now, max_amount_fen=10_000_000, default_amount_fen=5_000_000
        )
        product(session, b["X4"], "X4-P", now, max_term_months=6)
        product(session, b["X5"], "X5-P", now, industries=["A"])
        product(session, b["X6"], "X6-P", now, sizes=["medium"])
        product(session, b["X7"], "X7-P", now, online=False)


@pytest.fixture
def make_market(settings: Settings, engine: Engine) -> Iterator[MarketFactory]:
    clients: list[TestClient] = []

    def make(
        *, banks_per_round: int = 3, working_days: int = 2, start: dt.datetime | None = None
    ) -> Market:
        app = create_app(
            settings.model_copy(
                update={
                    "public_url": BASE,
                    "demand_push_banks": banks_per_round,
                    "demand_claim_working_days": working_days,
                }
            )
        )
        clock = FrozenClock(start or dt.datetime.now(dt.UTC).replace(microsecond=0))
        app.state.clock = clock
        sessions = session_factory(engine)
        with sessions.begin() as session:
            uscc = add_enterprise(session, 1)
            other = add_enterprise(session, 2, city="410400")
        http = TestClient(app, base_url=BASE)
        http.__enter__()
        clients.append(http)
        world = World(
            http=http, clock=clock, sessions=sessions, uscc=uscc, other_uscc=other, bank_id=0
        )
        market = Market(world)
        build_catalogue(market, clock())
        world.bank_id = market.banks["B1"]
        world.add_user("legal_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=uscc)
        world.add_user("other_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=other)
        world.add_user("new_rep", UserKind.ENTERPRISE, [Role.AGENT], uscc=uscc)
        world.add_user("bank_admin", UserKind.BANK, [Role.BANK_ADMIN], bank_id=world.bank_id)
        world.add_user("ops_admin", UserKind.OPS, [Role.OPS_ADMIN])
        world.add_user("zz_auditor", UserKind.OPS, [Role.OPS_AUDITOR], city_code="410100")
        world.add_user("pds_auditor", UserKind.OPS, [Role.OPS_AUDITOR], city_code="410400")
        with sessions.begin() as session:
            for name in ("legal_rep", "other_rep"):  # new_rep stays unauthenticated
                user = session.get(User, world.users[name].id)
                assert user is not None
                user.authenticated_at = clock()
        return market

    yield make
    for http in clients:
        http.__exit__(None, None, None)


@pytest.fixture
def market(make_market: MarketFactory) -> Market:
    return make_market()
