"""Test harness: every test gets a fresh database built by the Alembic migrations.

Embedded default: a SQLite file per test, copied from one migrated template. With
``FINANCE_DATABASE_URL`` pointing at PostgreSQL (CI), each test gets its own database
created from a migrated template database, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from finance.core import db, migrate
from finance.core.settings import Settings, get_settings

SERVER_URL = os.environ.get("FINANCE_DATABASE_URL")


def _pg_admin(url: str) -> Engine:
    admin = make_url(Settings(database_url=url).sqlalchemy_url).set(database="postgres")
    return create_engine(admin, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated template: a SQLite file path, or a PostgreSQL database name."""
    if SERVER_URL is None:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = db.make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        engine.dispose()
        yield str(path)
        return
    name = f"finance_tpl_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin(SERVER_URL)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = db.make_engine(Settings(database_url=SERVER_URL).sqlalchemy_url)
    engine = db.make_engine(engine.url.set(database=name).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> Iterator[str]:
    if SERVER_URL is None:
        path = tmp_path / "finance.db"
        shutil.copy(_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"finance_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(SERVER_URL)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"'))
    url = make_url(Settings(database_url=SERVER_URL).sqlalchemy_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings for this test, also visible to code that calls ``get_settings()`` (the CLI)."""
    monkeypatch.setenv("FINANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FINANCE_DATABASE_URL", database_url)
    monkeypatch.setenv("FINANCE_ENV", "test")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.get_engine(settings)
    yield engine
    engine.dispose()
    db._engine_for.cache_clear()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with db.session_factory(engine)() as session:
        yield session
