"""Bulk upsert of validated rows into a category table, inside the caller's transaction.

PostgreSQL: the chunk is encoded in COPY's binary format (``finance.core.pgcopy``)
and first COPYed straight into the table inside a savepoint. When none of its keys is in
the table yet (a first load, or a new month for known enterprises) that is the whole
write. When the primary key refuses a row, the savepoint is rolled back and the chunk goes
the upsert way instead: COPY into a temporary staging table, one UPDATE rewrites the rows
whose data changed and one INSERT adds the new ones (an anti-join: cheaper than
speculative INSERT ... ON CONFLICT for bulk loads). Both ways leave the same rows, because
where no key exists an upsert inserts every row. Loads of one category are serialised by
a transaction-scoped advisory lock, so no other load can add keys in between.

SQLite: executemany of INSERT ... ON CONFLICT DO UPDATE ... WHERE something changed.

Either way a row is rewritten only when one of its data columns differs, so loading the
same file twice changes nothing and keeps the first load's lineage.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg import errors as pg_errors
from sqlalchemy import Connection, Table

from finance.core.pgcopy import copy_statement, encode, pg_type
from finance.govdata.categories import Category, Kind
from finance.govdata.models import data_table

LINEAGE = ("source_department", "batch_id", "ingested_at", "as_of_date")


def _constant(value: Any, count: int, arrow_type: pa.DataType) -> pa.Array:
    return pa.array([value], type=arrow_type).take(np.zeros(count, dtype=np.int32))


class CategoryWriter:
    def __init__(self, connection: Connection, category: Category) -> None:
        self.connection = connection
        self.category = category
        self.table: Table = data_table(category.name)
        self.data_columns = ["uscc", *(c.db_name for c in category.columns)]
        self.key_columns = ["uscc", *(category.column(k).db_name for k in category.key)]
        self.all_columns = [*self.data_columns, *LINEAGE]
        self.postgresql = connection.dialect.name == "postgresql"
        self._staging: str | None = None
        self._locked = False
        self._pg_types = [pg_type(self.table.c[name].type) for name in self.all_columns]
        kinds = {c.db_name: c.kind for c in category.columns}
        self._dates = {n for n, k in kinds.items() if k in (Kind.DATE, Kind.MONTH)}
        self._bools = {n for n, k in kinds.items() if k is Kind.BOOL}
        self._ints = {n for n, k in kinds.items() if k in (Kind.INT, Kind.MONEY)}

    def write(
        self,
        rows: pd.DataFrame,
        *,
        batch_id: int,
        source: str,
        ingested_at: dt.datetime,
        as_of: dt.date,
    ) -> int:
        """Upsert ``rows`` (table column names); returns how many rows were inserted or
        changed."""
        if rows.empty:
            return 0
        lineage = (source, batch_id, ingested_at, as_of)
        if self.postgresql:
            return self._write_postgresql(rows, lineage)
        return self._write_sqlite(rows, lineage)

    # PostgreSQL

    def _arrow_table(self, rows: pd.DataFrame, lineage: tuple[Any, ...]) -> pa.Table:
        arrays: list[pa.Array] = []
        for name in self.data_columns:
            series = rows[name]
            if name in self._dates:
                arrays.append(pa.array(series.to_numpy(dtype="datetime64[D]")).cast(pa.date32()))
            elif name in self._ints:
                arrays.append(pa.array(series, type=pa.int64(), from_pandas=True))
            elif name in self._bools:
                arrays.append(pa.array(series, type=pa.bool_(), from_pandas=True))
            else:
                arrays.append(pa.array(series, type=pa.string(), from_pandas=True))
        count = len(rows)
        source, batch_id, ingested_at, as_of = lineage
        arrays += [
            _constant(source, count, pa.string()),
            _constant(batch_id, count, pa.int64()),
            _constant(ingested_at, count, pa.timestamp("us", tz="UTC")),
            _constant(as_of, count, pa.date32()),
        ]
        return pa.Table.from_arrays(arrays, names=self.all_columns)

    def _write_postgresql(self, rows: pd.DataFrame, lineage: tuple[Any, ...]) -> int:
        raw: Any = self.connection.connection.driver_connection
        table = self.table.name
        columns = ", ".join(self.all_columns)
        statement = copy_statement(table, self.all_columns)
        payload = encode(self._arrow_table(rows, lineage), self._pg_types)
        with raw.cursor() as cursor:
            if not self._locked:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"finance.ingest.{table}",)
                )
                self._locked = True
            try:
                with raw.transaction(), cursor.copy(statement) as copy:
                    copy.write(payload)
            except pg_errors.UniqueViolation:
                pass  # some keys exist: upsert instead
            else:
                return len(rows)
            if self._staging is None:
                self._staging = f"staging_{table}"
                cursor.execute(
                    f"CREATE TEMP TABLE {self._staging} ON COMMIT DROP AS "
                    f"SELECT {columns} FROM {table} WITH NO DATA"
                )
            else:
                cursor.execute(f"TRUNCATE {self._staging}")
            with cursor.copy(copy_statement(self._staging, self.all_columns)) as copy:
                copy.write(payload)
            cursor.execute(f"ANALYZE {self._staging}")
            match = " AND ".join(f"t.{c} = s.{c}" for c in self.key_columns)
            changing = [c for c in self.data_columns if c not in self.key_columns]
            assignments = ", ".join(f"{c} = s.{c}" for c in [*changing, *LINEAGE])
            old = ", ".join(f"t.{c}" for c in changing)
            new = ", ".join(f"s.{c}" for c in changing)
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM {self._staging} AS s "
                f"WHERE {match} AND ({old}) IS DISTINCT FROM ({new})"
            )
            updated = int(cursor.rowcount)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self._staging} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {match})"
            )
            return updated + int(cursor.rowcount)

    # SQLite

    def _sqlite_upsert(self) -> str:
        changing = [c for c in self.data_columns if c not in self.key_columns]
        assignments = ", ".join(f"{c} = excluded.{c}" for c in [*changing, *LINEAGE])
        differs = " OR ".join(f"{self.table.name}.{c} IS NOT excluded.{c}" for c in changing)
        placeholders = ", ".join("?" for _ in self.all_columns)
        return (
            f"INSERT INTO {self.table.name} ({', '.join(self.all_columns)}) "
            f"VALUES ({placeholders}) ON CONFLICT ({', '.join(self.key_columns)}) "
            f"DO UPDATE SET {assignments} WHERE {differs}"
        )

    def _sqlite_column(self, name: str, series: pd.Series) -> list[Any]:
        if name in self._dates:
            days = series.to_numpy(dtype="datetime64[D]")
            return [None if s == "NaT" else s for s in np.datetime_as_string(days).tolist()]
        if name in self._ints:
            return series.astype(object).where(series.notna(), None).tolist()
        if name in self._bools:
            return [None if v is None else int(v) for v in series.tolist()]
        return series.astype(object).where(series.notna(), None).tolist()

    def _write_sqlite(self, rows: pd.DataFrame, lineage: tuple[Any, ...]) -> int:
        source, batch_id, ingested_at, as_of = lineage
        # The formats SQLAlchemy itself uses for these types on SQLite.
        stamp = ingested_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        count = len(rows)
        columns = [self._sqlite_column(n, rows[n]) for n in self.data_columns]
        columns += [
            [source] * count,
            [batch_id] * count,
            [stamp] * count,
            [as_of.isoformat()] * count,
        ]
        raw: Any = self.connection.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.executemany(self._sqlite_upsert(), zip(*columns, strict=True))
            return int(cursor.rowcount)
        finally:
            cursor.close()
