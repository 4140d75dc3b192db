"""Products tests share the authz test world (app, clock, enterprises, users) and one
credit model trained once per test session on a small seeded province."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from credit.dataset import platform_training_set
from credit.registry import promote, register
from credit.train import TrainResult, train
from finance.core import db, migrate
from finance.core.settings import Settings
from tests.authz.conftest import _fast_password_hashing, world
from tests.authz.support import World
from tests.credit.builders import build_province

__all__ = ["_fast_password_hashing", "live_model", "trained", "world"]


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
