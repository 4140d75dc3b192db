"""Bulk upsert of validated rows into a category table, inside the caller's transaction.

PostgreSQL: COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO UPDATE.
SQLite: executemany of INSERT ... ON CONFLICT DO UPDATE. Either way a row is rewritten
only when one of its data columns differs, so loading the same file twice changes nothing
(and keeps the first load's lineage).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table

from finance.govdata.categories import Category, Kind
from finance.govdata.models import data_table

NULL = "\\N"


class CategoryWriter:
    def __init__(self, connection: Connection, category: Category) -> None:
        self.connection = connection
        self.category = category
        self.table: Table = data_table(category.name)
        self.data_columns = ["uscc", *(c.db_name for c in category.columns)]
        self.key_columns = ["uscc", *(category.column(k).db_name for k in category.key)]
        self.all_columns = [
            *self.data_columns,
            "source_department",
            "batch_id",
            "ingested_at",
            "as_of_date",
        ]
        self.postgresql = connection.dialect.name == "postgresql"
        self._staging_ready = False
        self._bool_columns = {c.db_name for c in category.columns if c.kind is Kind.BOOL}
        self._int_columns = {
            c.db_name for c in category.columns if c.kind in (Kind.INT, Kind.MONEY)
        }

    def _upsert_sql(self, source: str) -> str:
        table = self.table.name
        updatable = [c for c in self.all_columns if c not in self.key_columns]
        assignments = ", ".join(f"{c} = excluded.{c}" for c in updatable)
        changed_data = [c for c in self.data_columns if c not in self.key_columns]
        conflict = ", ".join(self.key_columns)
        columns = ", ".join(self.all_columns)
        if self.postgresql:
            old = ", ".join(f"{table}.{c}" for c in changed_data)
            new = ", ".join(f"excluded.{c}" for c in changed_data)
            return (
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments} "
                f"WHERE ({old}) IS DISTINCT FROM ({new})"
            )
        differs = " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in changed_data)
        placeholders = ", ".join("?" for _ in self.all_columns)
        return (
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments} WHERE {differs}"
        )

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
        frame = rows[self.data_columns].copy()
        frame["source_department"] = source
        frame["batch_id"] = batch_id
        frame["ingested_at"] = ingested_at
        frame["as_of_date"] = as_of
        if self.postgresql:
            return self._write_postgresql(frame)
        return self._write_sqlite(frame)

    def _write_postgresql(self, frame: pd.DataFrame) -> int:
        raw: Any = self.connection.connection.driver_connection
        staging = f"staging_{self.table.name}"
        columns = ", ".join(self.all_columns)
        with raw.cursor() as cursor:
            if not self._staging_ready:
                cursor.execute(
                    f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
                    f"SELECT {columns} FROM {self.table.name} WITH NO DATA"
                )
                self._staging_ready = True
            else:
                cursor.execute(f"TRUNCATE {staging}")
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep=NULL)
            with cursor.copy(
                f"COPY {staging} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')"
            ) as copy:
                copy.write(buffer.getvalue())
            cursor.execute(self._upsert_sql(staging))
            return int(cursor.rowcount)

    def _sqlite_values(self, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
        columns: list[list[Any]] = []
        for name in self.all_columns:
            series = frame[name]
            if name in self._int_columns:
                values = series.astype(object).where(series.notna(), None).tolist()
            elif name in self._bool_columns:
                values = [None if v is None else int(v) for v in series.tolist()]
            elif name == "ingested_at":
                stamp = series.iloc[0].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                values = [stamp] * len(series)
            elif name == "batch_id":
                values = [int(series.iloc[0])] * len(series)
            else:
                values = [
                    None
                    if v is None or (isinstance(v, float) and np.isnan(v))
                    else (v.isoformat() if isinstance(v, dt.date) else v)
                    for v in series.tolist()
                ]
            columns.append(values)
        return list(zip(*columns, strict=True))

    def _write_sqlite(self, frame: pd.DataFrame) -> int:
        raw: Any = self.connection.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.executemany(self._upsert_sql(""), self._sqlite_values(frame))
            return int(cursor.rowcount)
        finally:
            cursor.close()
