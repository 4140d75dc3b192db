"""The catalogue test world: two banks (Zhengzhou and Luoyang) with their staff, ops
(province-wide, the Zhengzhou and Pingdingshan branches), an enterprise user, and the
calls each of them makes through the app. Matching and profile tests use the authz test
world (``world``) and one credit model trained once per test session (``trained``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from authz import passwords
from authz.clock import FrozenClock
from authz.models import Role, UserKind
from credit.dataset import platform_training_set
from credit.registry import promote, register
from credit.train import TrainResult, train
from finance.app import create_app
from finance.core import db, migrate
from finance.core.db import session_factory
from finance.core.settings import Settings
from finance.institutions.models import Bank
from tests.authz.conftest import world
from tests.authz.support import BASE, World, add_enterprise
from tests.credit.builders import build_province
from tests.products.support import Catalogue

__all__ = ["world"]


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


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainResult]:
    path: Path = tmp_path_factory.mktemp("model") / "province.db"
    engine = db.make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with db.session_factory(engine)() as session:
        build_province(session, enterprises=400, months=36, seed=11)
        session.commit()
        yield train(platform_training_set(session, dt.date(2026, 1, 1)), seed=1)
    engine.dispose()


@pytest.fixture
def live_model(world: World, settings: Settings, trained: TrainResult) -> str:
    """The trained model registered and promoted in this test's database."""
    with world.sessions.begin() as session:
        row = register(session, trained, settings.resolved_data_dir, created_by="tests")
        promote(session, row.version, by="tests")
        return row.version
