"""Dialect-aware statements the authz tables need on both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_absent(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its primary key exists; True when this call inserted it.

    Concurrent callers on PostgreSQL wait for each other, so exactly one wins.
    """
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = module.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).first() is not None
