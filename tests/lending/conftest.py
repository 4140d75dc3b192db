"""The lending tests run in the authz test world (app on an injected clock, an
authenticated enterprise with tax data, a bank and its users); ``workers`` starts real
worker processes on a queue of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finance.core.settings import Settings
from tests.authz.conftest import _fast_password_hashing, world
from tests.authz.support import World
from tests.lending.workers import Workers

__all__ = ["_fast_password_hashing", "workers", "world"]


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[Workers]:
    running = Workers(monkeypatch)
    yield running
    running.stop_all()


@pytest.fixture(autouse=True)
def _relay_closed(world: World) -> Iterator[None]:
    """Stop the app's outbox relay thread before the test's database goes away."""
    yield
    world.http.app.state.outbox.close()
