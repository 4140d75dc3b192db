"""Bulk insert of the synthetic loan book's rows: binary COPY on PostgreSQL (the ingestion
writer's encoder and COPY, ``finance.core.pgcopy``), Core executemany on SQLite.

The rows come as a data frame whose columns are named after the table's. Each column is
converted once, by its SQL type, to an Arrow array: PostgreSQL gets the arrays COPYed,
SQLite their Python values through SQLAlchemy's insert. Ids that other rows refer to are
drawn on PostgreSQL from the table's own sequence (``nextval``, what the column default
would give), so the sequence is past every id COPYed and later inserts do not collide;
on SQLite the insert returns them. On PostgreSQL the table's planner statistics are
brought up to date after its COPY (``finance.core.db.refresh_statistics``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import JSON, Connection, Numeric, Table, text
from sqlalchemy.types import TypeEngine

from finance.core.db import json_text, refresh_statistics
from finance.core.pgcopy import PgType, copy_rows, pg_type

INSERT_BATCH = 5_000  # rows per executemany on SQLite

_ARROW_TYPES = {
    PgType.TEXT: pa.string(),
    PgType.INT8: pa.int64(),
    PgType.INT4: pa.int32(),
    PgType.BOOL: pa.bool_(),
    PgType.FLOAT8: pa.float64(),
    PgType.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
}


def insert(connection: Connection, table: Table, rows: pd.DataFrame) -> None:
    """Insert ``rows``; a column left out takes its default (an id the next of its
    sequence)."""
    if rows.empty:
        return
    if connection.dialect.name == "postgresql":
        copy_rows(connection, table, _arrow(table, rows))
        refresh_statistics(connection, {table.name: len(rows)})
        return
    for batch in _sqlite_batches(table, rows):
        connection.execute(table.insert(), batch)


def insert_returning_ids(connection: Connection, table: Table, rows: pd.DataFrame) -> list[int]:
    """Insert ``rows`` and return their ids, in the rows' order."""
    if rows.empty:
        return []
    if connection.dialect.name == "postgresql":
        ids = _next_ids(connection, table, len(rows))
        copy_rows(connection, table, _arrow(table, rows.assign(id=ids)))
        refresh_statistics(connection, {table.name: len(rows)})
        return ids
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    ids = []
    for batch in _sqlite_batches(table, rows):
        ids += [int(i) for i in connection.execute(statement, batch).scalars()]
    return ids


def _next_ids(connection: Connection, table: Table, count: int) -> list[int]:
    sequence = connection.scalar(
        text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
    )
    drawn = connection.execute(
        text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :count)"),
        {"sequence": sequence, "count": count},
    )
    return [int(i) for i in drawn.scalars()]


def _array(sql_type: TypeEngine[Any], values: pd.Series) -> pa.Array:
    """One column as Arrow, in the type its SQL type is written from."""
    kind = pg_type(sql_type)
    if kind is PgType.TEXT and isinstance(sql_type, JSON):
        # What SQLAlchemy's JSON type would send (the engines' serializer), stored verbatim.
        return pa.array([None if v is None else json_text(v) for v in values], pa.string())
    if kind is PgType.NUMERIC:
        assert isinstance(sql_type, Numeric)
        if sql_type.precision is None or sql_type.scale is None:
            raise ValueError("a NUMERIC column needs its precision and scale")
        return pa.array(values, pa.decimal128(sql_type.precision, sql_type.scale), from_pandas=True)
    if kind is PgType.DATE:
        if pd.api.types.is_datetime64_any_dtype(values):
            return pa.array(values.to_numpy(dtype="datetime64[D]")).cast(pa.date32())
        return pa.array(values, pa.date32(), from_pandas=True)
    if kind is PgType.TIMESTAMPTZ and not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{values.name}: a UTC column takes timezone-aware times")
    return pa.array(values, _ARROW_TYPES[kind], from_pandas=True)


def _names(table: Table, rows: pd.DataFrame) -> list[str]:
    """The frame's column names, once it is checked that no column left out has a default
    only SQLAlchemy would apply (COPY knows the server's defaults only)."""
    names = [str(name) for name in rows.columns]
    python_defaults = [
        column.name
        for column in table.columns
        if column.name not in names and column.default is not None and column.server_default is None
    ]
    if python_defaults:
        raise ValueError(f"{table.name}: no values for {', '.join(python_defaults)}")
    return names


def _arrow(table: Table, rows: pd.DataFrame) -> pa.Table:
    names = _names(table, rows)
    return pa.Table.from_arrays(
        [_array(table.c[name].type, rows[name]) for name in names], names=names
    )


def _sqlite_batches(table: Table, rows: pd.DataFrame) -> Iterator[list[dict[str, Any]]]:
    """The rows as SQLAlchemy parameters: the Arrow columns' Python values (JSON columns
    as the objects themselves, which SQLAlchemy serialises)."""
    names = _names(table, rows)
    columns = [
        rows[name].tolist()
        if isinstance(table.c[name].type, JSON)
        else _array(table.c[name].type, rows[name]).to_pylist()
        for name in names
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        yield [
            dict(zip(names, values, strict=True))
            for values in zip(
                *(column[start : start + INSERT_BATCH] for column in columns), strict=True
            )
        ]
