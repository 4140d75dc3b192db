"""The authz test world: the app on an injected clock, an enterprise with two years of
tax data, a second enterprise, a bank and its users."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from authz import passwords
from authz.clock import FrozenClock
from authz.models import Role, UserKind
from finance.app import create_app
from finance.core.db import session_factory
from finance.core.settings import Settings
from finance.institutions.models import Bank
from tests.authz.support import BASE, World, add_enterprise


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its production cost makes every login ~0.5 s; tests use a cheap one."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def world(settings: Settings, engine: Engine) -> Iterator[World]:
    app = create_app(settings.model_copy(update={"public_url": BASE}))
    # The client libraries stamp assertions with the real time; start the clock there.
    clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    app.state.clock = clock
    sessions = session_factory(engine)
    with sessions.begin() as session:
        uscc = add_enterprise(session, 1)
        other = add_enterprise(session, 2, city="410400")
        bank = Bank(
            code="ZZB", name="郑州银行", name_en="Bank of Zhengzhou", kind="city_commercial"
        )
        session.add(bank)
        session.flush()
        bank_id = bank.id
    with TestClient(app, base_url=BASE) as http:
        world = World(
            http=http,
            clock=clock,
            sessions=sessions,
            uscc=uscc,
            other_uscc=other,
            bank_id=bank_id,
        )
        world.add_user("legal_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=uscc)
        world.add_user("other_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=other)
        world.add_user("bank_admin", UserKind.BANK, [Role.BANK_ADMIN], bank_id=bank_id)
        world.add_user("ops_admin", UserKind.OPS, [Role.OPS_ADMIN])
        world.add_user("pds_auditor", UserKind.OPS, [Role.OPS_AUDITOR], city_code="410400")
        with sessions.begin() as session:
            from authz.models import User

            for name in ("legal_rep", "other_rep"):
                user = session.get(User, world.users[name].id)
                assert user is not None
                user.authenticated_at = clock()
        yield world
