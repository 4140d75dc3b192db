"""The catalogue test world: two banks (Zhengzhou and Luoyang) with their staff, ops
(province-wide, the Zhengzhou and Pingdingshan branches), an enterprise user, and the
calls each of them makes through the app."""

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
from tests.authz.support import BASE, add_enterprise
from tests.products.support import Catalogue


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def catalogue(settings: Settings, engine: Engine) -> Iterator[Catalogue]:
    app = create_app(settings.model_copy(update={"public_url": BASE}))
    clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    app.state.clock = clock
    sessions = session_factory(engine)
    with sessions.begin() as session:
        uscc = add_enterprise(session, 1)
        banks = {}
        for code, name, name_en in (
            ("ZZB", "郑州银行", "Bank of Zhengzhou"),
            ("LYB", "洛阳银行", "Bank of Luoyang"),
        ):
            bank = Bank(code=code, name=name, name_en=name_en, kind="city_commercial")
            session.add(bank)
            session.flush()
            banks[code] = bank.id
    with TestClient(app, base_url=BASE) as http:
        world = Catalogue(
            http=http,
            clock=clock,
            sessions=sessions,
            uscc=uscc,
            other_uscc=uscc,
            bank_id=banks["ZZB"],
            banks=banks,
        )
        world.add_user("zzb_admin", UserKind.BANK, [Role.BANK_ADMIN], bank_id=banks["ZZB"])
        world.add_user("zzb_staff", UserKind.BANK, [Role.BANK_STAFF], bank_id=banks["ZZB"])
        world.add_user("lyb_staff", UserKind.BANK, [Role.BANK_STAFF], bank_id=banks["LYB"])
        world.add_user("ops_admin", UserKind.OPS, [Role.OPS_ADMIN])
        world.add_user("zz_officer", UserKind.OPS, [Role.OPS_ADMIN], city_code="410100")
        world.add_user("pds_officer", UserKind.OPS, [Role.OPS_AUDITOR], city_code="410400")
        world.add_user("legal_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=uscc)
        yield world
