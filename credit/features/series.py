"""The monthly measures of each enterprise, stored packed (``credit_series``): one row per
enterprise and monthly category table holding every month of that table's measures, from
the first month on record to the last, as little-endian float64 ``[measures, months]``
with NaN where a month has no row or a NULL value.

Why: the features take 24 months of five monthly tables, some 70 rows per enterprise.
Reading those rows cost two thirds of a batch rescore's CPU (the database seeking each
row, the driver building a Python object for every value); the packed series are five
rows per enterprise, decoded with one ``numpy.frombuffer`` per chunk and category.

One definition: ``measure_values`` turns a category's columns into its measures (sums of
amounts, ranks of grades) and is used only here, when packing; reading (``credit.features
.read``) unpacks the series for the online path and for batch alike.

Kept current by whoever writes the category tables, inside the same transaction:
ingestion keeps a load's accepted rows in a ``LoadedRows`` and merges them over the stored
series at the end of the load (``finance.ingestion.service``); ``refresh`` rewrites the
series of given enterprises from the table's rows (test builders that insert rows
directly); ``rebuild`` rewrites every series (the migration that created the table, and
``finance credit rebuild-series`` after rows were changed by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Connection, String, any_, bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import ARRAY

from credit.features.days import EPOCH_MONTH, DayNumber, month_numbers
from credit.features.inputs import MONTHLY, MONTHLY_TABLES, RANKS, Array, M
from credit.models import MonthlySeries
from finance.core.db import refresh_statistics
from finance.govdata.models import data_table

IN_LIST_SIZE = 2000
ARRAY_SIZE = 20000
DTYPE = np.dtype("<f8")

# Per monthly table, its measures (in ``MONTHLY`` order), the columns they are read from,
# and the measures' rows of the panel.
MEASURES_OF: Mapping[str, tuple[str, ...]] = {
    table: tuple(m for m, (t, _) in MONTHLY.items() if t == table) for table in MONTHLY_TABLES
}
COLUMNS_OF: Mapping[str, tuple[str, ...]] = {
    table: tuple(dict.fromkeys(c for m in MEASURES_OF[table] for c in MONTHLY[m][1]))
    for table in MONTHLY_TABLES
}
PANEL_ROWS: Mapping[str, NDArray[np.intp]] = {
    table: np.array([M[m] for m in MEASURES_OF[table]], dtype=np.intp) for table in MONTHLY_TABLES
}


def _floats(values: Sequence[Any]) -> Array:
    return np.array(values, dtype=np.float64)


def measure_values(table: str, by_column: Mapping[str, Sequence[Any]]) -> Array:
    """The measures of ``table``'s rows, ``[measures, rows]``: a sum of amounts is NaN
    when any of its columns is NULL, a grade is its rank (NaN when NULL or unknown)."""
    measures = MEASURES_OF[table]
    count = len(by_column[COLUMNS_OF[table][0]])
    result = np.empty((len(measures), count))
    for i, measure in enumerate(measures):
        sources = MONTHLY[measure][1]
        if measure in RANKS:
            ranks = RANKS[measure]
            result[i] = [
                np.nan if v is None else ranks.get(v, np.nan) for v in by_column[sources[0]]
            ]
        else:
            measured = _floats(by_column[sources[0]])
            for column in sources[1:]:
                measured = measured + _floats(by_column[column])
            result[i] = measured
    return result


Existing = Mapping[str, tuple[int, int, bytes]]  # uscc -> (first month index, months, packed)


def pack(
    table: str,
    keys: Sequence[str],
    code: NDArray[np.intp],
    month: NDArray[np.int64],
    values: Array,
    existing: Existing | None = None,
) -> list[dict[str, Any]]:
    """The series rows of ``table`` from rows of it (the enterprise as its index in
    ``keys``, month index, ``[measures, rows]`` values), one per enterprise of ``keys``
    (each has rows) from its first month to its last; with ``existing`` series of these
    enterprises, the rows are written over them (a month of the rows replaces that
    month, the others stay)."""
    if not len(keys):
        return []
    first = np.full(len(keys), np.iinfo(np.int64).max)
    last = np.full(len(keys), np.iinfo(np.int64).min)
    np.minimum.at(first, code, month)
    np.maximum.at(last, code, month)
    old = [(i, existing[k]) for i, k in enumerate(keys) if k in existing] if existing else []
    for i, (old_first, old_months, _) in old:
        first[i] = min(first[i], old_first)
        last[i] = max(last[i], old_first + old_months - 1)
    span = last - first + 1
    width = len(MEASURES_OF[table])
    starts = np.concatenate([[0], np.cumsum(span * width)])
    flat = np.full(int(starts[-1]), np.nan, dtype=DTYPE)
    for i, (old_first, old_months, packed) in old:
        within = flat[starts[i] : starts[i + 1]].reshape(width, span[i])
        at = old_first - first[i]
        within[:, at : at + old_months] = np.frombuffer(packed, DTYPE).reshape(width, old_months)
    column = month - first[code]
    for i in range(width):
        flat[starts[code] + i * span[code] + column] = values[i]
    first_days = (first - EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]")
    return [
        {
            "uscc": uscc,
            "category": table,
            "first_month": day.item(),
            "months": int(months),
            "packed": flat[start:stop].tobytes(),
        }
        for uscc, day, months, start, stop in zip(
            keys, first_days, span.tolist(), starts[:-1], starts[1:], strict=True
        )
    ]


def unpack_into(
    panel: Array,
    request: NDArray[np.intp],
    window_start: NDArray[np.int64],
    table: str,
    first_month: NDArray[np.int64],
    months: int,
    values: Sequence[bytes],
) -> None:
    """Copies the series of ``table`` (all ``months`` long, starting at the month indexes
    ``first_month``) into the panel rows of their ``request``: the ``MONTHS`` months from
    each request's ``window_start``, NaN outside the series."""
    width = len(MEASURES_OF[table])
    series = np.frombuffer(b"".join(values), dtype=DTYPE).reshape(len(values), width, months)
    window = panel.shape[2]
    position = (window_start - first_month)[:, None] + np.arange(window)[None, :]
    inside = (position >= 0) & (position < months)
    taken = np.take_along_axis(series, np.clip(position, 0, months - 1)[:, None, :], axis=2)
    taken = np.where(inside[:, None, :], taken, np.nan)
    panel[request[:, None], PANEL_ROWS[table][None, :], :] = taken


def refresh(connection: Connection, table: str, usccs: Iterable[str]) -> int:
    """Rewrites the series of ``table`` for these enterprises from the table's rows (an
    enterprise with no rows left has none); returns how many were written."""
    if table not in MEASURES_OF:
        return 0
    source = data_table(table)
    columns = COLUMNS_OF[table]
    statement = select(source.c.uscc, DayNumber(source.c.period), *(source.c[c] for c in columns))
    written = 0
    ordered = sorted(set(usccs))
    size = _chunk_size(connection)
    for start in range(0, len(ordered), size):
        chunk = ordered[start : start + size]
        result = connection.execute(statement.where(_among(connection, source.c.uscc, chunk)))
        rows = result.cursor.fetchall()  # plain tuples: no column needs a conversion
        result.close()
        _delete(connection, table, chunk)
        if not rows:
            continue
        usccs, days, *values = zip(*rows, strict=True)
        keys, code = np.unique(np.asarray(usccs, dtype=object), return_inverse=True)
        packed = pack(
            table,
            keys.tolist(),
            code,
            month_numbers(np.array(days, dtype=np.int64)),
            measure_values(table, dict(zip(columns, values, strict=True))),
        )
        _insert(connection, packed)
        written += len(packed)
    return written


_COLUMNS = ("uscc", "category", "first_month", "months", "packed")


def _insert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """The rows in one executemany; on PostgreSQL through binary COPY (its executemany
    sends one statement per row: a 100,000-enterprise load spent most of its refresh
    there; text COPY would send the packed bytes as hex)."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(MonthlySeries), rows)
        return
    raw: Any = connection.connection.driver_connection
    statement = (
        f"COPY {MonthlySeries.__tablename__} ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    )
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(["varchar", "varchar", "date", "int4", "bytea"])
        for row in rows:
            copy.write_row(tuple(row[c] for c in _COLUMNS))


@dataclass(slots=True)
class LoadedRows:
    """A load's accepted rows of one monthly table, kept compact (USCC, month index,
    measures) until ``merge`` writes them over the series at the end of the load: they
    are the table's rows for their keys from then on (the load upserts them)."""

    table: str
    usccs: list[NDArray[np.bytes_]] = field(default_factory=list)
    months: list[NDArray[np.int64]] = field(default_factory=list)
    values: list[Array] = field(default_factory=list)

    def add(self, rows: pd.DataFrame) -> None:
        """Keeps a chunk of accepted rows (table column names)."""
        if rows.empty:
            return
        by_column: dict[str, Any] = {}
        for column in COLUMNS_OF[self.table]:
            series = rows[column]
            if pd.api.types.is_numeric_dtype(series):
                by_column[column] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                by_column[column] = series.astype(object).where(series.notna(), None).tolist()
        days = pd.to_datetime(rows["period"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
        self.usccs.append(rows["uscc"].to_numpy(dtype="S18"))
        self.months.append(month_numbers(days))
        self.values.append(measure_values(self.table, by_column))

    def merge(self, connection: Connection) -> int:
        """Writes the rows kept over the stored series (reading each enterprise's series
        once, not its rows): a load of one new month costs one series per enterprise.
        Returns how many series were written."""
        if not self.usccs:
            return 0
        usccs = np.concatenate(self.usccs)
        months = np.concatenate(self.months)
        values = np.concatenate(self.values, axis=1)
        # Enterprises numbered in USCC order: hashing, then sorting the distinct ones only.
        found, uniques = pd.factorize(usccs)
        ranks = np.empty(len(uniques), dtype=np.intp)
        ranks[np.argsort(uniques)] = np.arange(len(uniques))
        code = ranks[found]
        keys = np.sort(uniques)
        order = np.argsort(code, kind="stable")
        sorted_codes = code[order]
        size = _chunk_size(connection)
        written = 0
        for start in range(0, len(keys), size):
            chunk = [k.decode() for k in keys[start : start + size].tolist()]
            low, high = np.searchsorted(sorted_codes, [start, start + size])
            rows = order[low:high]
            stored = connection.execute(
                select(
                    MonthlySeries.uscc,
                    DayNumber(MonthlySeries.first_month),
                    MonthlySeries.months,
                    MonthlySeries.packed,
                ).where(
                    MonthlySeries.category == self.table,
                    _among(connection, MonthlySeries.uscc, chunk),
                )
            ).all()
            existing: dict[str, tuple[int, int, bytes]] = {}
            if stored:
                owners, days, lengths, blobs = zip(*stored, strict=True)
                firsts = month_numbers(np.array(days, dtype=np.int64)).tolist()
                existing = dict(zip(owners, zip(firsts, lengths, blobs, strict=True), strict=True))
            _delete(connection, self.table, chunk)
            packed_rows = pack(
                self.table,
                chunk,
                code[rows] - start,
                months[rows],
                values[:, rows],
                existing,
            )
            _insert(connection, packed_rows)
            written += len(packed_rows)
        return written


def _chunk_size(connection: Connection) -> int:
    return ARRAY_SIZE if connection.dialect.name == "postgresql" else IN_LIST_SIZE


def _among(connection: Connection, column: Any, usccs: list[str]) -> ColumnElement[bool]:
    """``column`` (a USCC column) is one of ``usccs``: on PostgreSQL one array parameter
    (psycopg parses a statement's placeholders with a regular expression, which for lists
    of thousands cost more than the statements), elsewhere an IN list."""
    if connection.dialect.name == "postgresql":
        condition: ColumnElement[bool] = column == any_(
            bindparam("usccs", usccs, type_=ARRAY(String))
        )
        return condition
    among: ColumnElement[bool] = column.in_(usccs)
    return among


def _delete(connection: Connection, table: str, usccs: list[str]) -> None:
    connection.execute(
        delete(MonthlySeries).where(
            MonthlySeries.category == table, _among(connection, MonthlySeries.uscc, usccs)
        )
    )


def rebuild(
    connection: Connection, *, on_progress: Callable[[str, int], None] | None = None
) -> int:
    """Rewrites every series from the data tables; returns how many were written."""
    connection.execute(delete(MonthlySeries))
    written = 0
    for table in MONTHLY_TABLES:
        source = data_table(table)
        usccs = connection.scalars(select(source.c.uscc).distinct()).all()
        written += refresh(connection, table, usccs)
        if on_progress is not None:
            on_progress(table, written)
    refresh_statistics(connection, {MonthlySeries.__tablename__: written})
    return written
