"""SQLAlchemy statements compiled once and run on the database driver's own cursor.

Every data call runs two reads (the token, client and consent in one; the records in the
other), and the ledger writer's group commit about eight short statements per batch (the
head, the rate counters, the proofs' ``jti``s, the daily counts, the entries). Executed
through SQLAlchemy's Core, each costs about 45 µs of Python before the driver is reached;
on the driver's cursor about 5 µs. The statements are still written with SQLAlchemy (so they
follow the models and each dialect's syntax); only their execution skips the Core, inside
the transaction the Core's ``Connection`` began. Values the Core's column types would
convert are converted here the same way, both ways: on SQLite, dates and UTC datetimes
are stored as the text SQLAlchemy writes and booleans as 0 and 1 (``converter`` turns
what the driver returns into what the Core would have); psycopg adapts dates and
datetimes itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, Connection, Date, DateTime
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeEngine

from finance.core.types import UTCDateTime

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


# The same few dates and load times recur on every page (the months, the as-of date,
# the ingestion time of a batch): parsed text is remembered (the values are immutable).
@lru_cache(maxsize=8192)
def _date_from_text(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@lru_cache(maxsize=8192)
def _utc_from_text(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return _date_from_text(value)


def _as_utc(value: Any) -> dt.datetime | None:
    """SQLite's text (naive UTC), or psycopg's aware datetime, as an aware UTC one."""
    if value is None:
        return None
    if isinstance(value, str):
        return _utc_from_text(value)
    moment: dt.datetime = value
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def converter(column_type: TypeEngine[Any]) -> Any:
    """How a value the driver returns for a column of this type becomes the value the
    Core would have returned (``None``: it is already that value)."""
    if isinstance(column_type, UTCDateTime | DateTime):
        return _as_utc
    if isinstance(column_type, Date):
        return _as_date
    if isinstance(column_type, Boolean):
        return _as_bool
    return None


class DriverSQL:
    """Runs compiled statements on the DBAPI cursor of ``connection``, in its
    transaction. Bind parameters are passed by name."""

    def __init__(self, connection: Connection) -> None:
        self._dialect = connection.dialect
        self.dialect: str = self._dialect.name
        self._sqlite = self.dialect == "sqlite"
        self._cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    @staticmethod
    def date(value: Any) -> dt.date:
        """A NOT NULL date column's value, as the Core would return it."""
        converted = _as_date(value)
        if converted is None:
            raise ValueError("a date column returned NULL")
        return converted

    @staticmethod
    def utc(value: Any) -> dt.datetime:
        """A NOT NULL UTC datetime column's value, as the Core would return it."""
        converted = _as_utc(value)
        if converted is None:
            raise ValueError("a datetime column returned NULL")
        return converted

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
