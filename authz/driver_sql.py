"""SQLAlchemy statements compiled once and run on the database driver's own cursor.

The ledger writer's group commit runs about eight short statements per batch (the head,
the rate counters, the proofs' ``jti``s, the daily counts, the entries). Executed through
SQLAlchemy's Core, each costs about 45 µs of Python before the driver is reached; on the
driver's cursor about 5 µs. The statements are still written with SQLAlchemy (so they
follow the models and each dialect's syntax); only their execution skips the Core, inside
the transaction the Core's ``Connection`` began. Values the Core's column types would
convert are converted here the same way: on SQLite, dates and UTC datetimes are stored
as the text SQLAlchemy writes; psycopg adapts them itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement

_COMPILED: dict[tuple[str, int], tuple[ClauseElement, str, dict[str, Any]]] = {}
_MAX_COMPILED = 1024


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class DriverSQL:
    """Runs compiled statements on the DBAPI cursor of ``connection``, in its
    transaction. Bind parameters are passed by name."""

    def __init__(self, connection: Connection) -> None:
        self._dialect = connection.dialect
        self.dialect: str = self._dialect.name
        self._sqlite = self.dialect == "sqlite"
        self._cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def _compiled(self, statement: ClauseElement) -> tuple[str, dict[str, Any]]:
        key = (self._dialect.name, id(statement))
        compiled = _COMPILED.get(key)
        if compiled is None or compiled[0] is not statement:
            dialect_class: Any = type(self._dialect)
            dialect = dialect_class(paramstyle="named" if self._sqlite else "pyformat")
            result = statement.compile(dialect=dialect)
            # Values fixed in the statement (``id == 1``) are bound parameters too. The
            # statement is kept with its text, so its id is not reused by another.
            defaults = {k: v for k, v in result.params.items() if v is not None}
            compiled = (statement, str(result), defaults)
            if len(_COMPILED) >= _MAX_COMPILED:
                _COMPILED.clear()
            _COMPILED[key] = compiled
        return compiled[1], compiled[2]

    def _values(self, defaults: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        merged = {**defaults, **values}
        if self._sqlite:
            return {k: _sqlite_value(v) for k, v in merged.items()}
        return merged

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> Any:
        """Run one statement; the cursor, to fetch what it returns."""
        sql, defaults = self._compiled(statement)
        self._cursor.execute(sql, self._values(defaults, values))
        return self._cursor

    def executemany(self, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
        sql, defaults = self._compiled(statement)
        self._cursor.executemany(sql, [self._values(defaults, row) for row in rows])

    def select_in(self, sql: str, *lists: Iterable[Any]) -> list[Any]:
        """The rows of ``sql``, whose ``{}`` are IN lists: one per list of values."""
        marks, values = [], []
        for listed in lists:
            adapted = [_sqlite_value(v) if self._sqlite else v for v in listed]
            marks.append(", ".join("?" if self._sqlite else "%s" for _ in adapted))
            values.extend(adapted)
        self._cursor.execute(sql.format(*marks), values)
        return list(self._cursor.fetchall())
