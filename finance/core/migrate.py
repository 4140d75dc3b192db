"""Running and checking Alembic migrations from code (CLI, app readiness, tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine


def _migrations_dir() -> Path:
    # The migrations live beside the packages in the source tree (editable installs).
    root = Path(str(resources.files("finance"))).parent
    return root / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_migrations_dir()))
    config.attributes["engine"] = engine
    return config


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite only: foreign keys off while migrations run on ``connection``. A migration
    that changes a table SQLite cannot alter in place rebuilds it (copy, drop, rename),
    and dropping a table that other tables point at must not touch those rows. The
    pragma only takes effect outside a transaction; ``check_foreign_keys`` checks every
    reference before the migrations commit."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        connection.commit()


def check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit migrations that left a row pointing at nothing (SQLite, where
    ``foreign_keys_off`` suspended the checks)."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left rows pointing at nothing: {broken[:5]}")


def _run(engine: Engine, action: Callable[[Config], None]) -> None:
    config = alembic_config(engine)
    with engine.connect() as connection, foreign_keys_off(connection):
        with connection.begin():
            config.attributes["connection"] = connection
            action(config)


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, lambda config: command.downgrade(config, revision))


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
