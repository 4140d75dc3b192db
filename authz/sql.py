"""Dialect-aware statements the authz tables need on both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_STATEMENTS: dict[tuple[str, str], Any] = {}


def insert_if_absent_statement(dialect: str, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING key``: a row comes back only when
    the statement inserted one. Built once per dialect and table."""
    statement = _STATEMENTS.get((dialect, table.name))
    if statement is None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        key = next(iter(table.primary_key.columns))
        statement = module.insert(table).on_conflict_do_nothing().returning(key)
        _STATEMENTS[(dialect, table.name)] = statement
    return statement


def insert_if_absent(session: Session, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its primary key exists; True when this call inserted it.

    Concurrent callers on PostgreSQL wait for each other, so exactly one wins.
    """
    statement = insert_if_absent_statement(session.get_bind().dialect.name, table)
    return session.execute(statement, values).first() is not None
