"""Alembic environment: the URL and metadata come from the finance package."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from finance.core import migrate
from finance.core.db import get_engine
from finance.core.types import UTCDateTime
from finance.schema import Base

target_metadata = Base.metadata


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | bool:
    # Migrations stay frozen: they name plain SQLAlchemy types, never the app's decorators.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
        migrate.check_foreign_keys(connection)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with get_engine().connect() as connection, migrate.foreign_keys_off(connection):
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
