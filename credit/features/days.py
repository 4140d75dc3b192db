"""Dates as numbers: day numbers computed by the database (``DayNumber``) and their
month indexes (``month_numbers``), so reading and packing rows decode dates with numpy
instead of a Python call per date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from credit.features.inputs import EPOCH

EPOCH_MONTH = EPOCH.year * 12 + EPOCH.month - 1


class DayNumber(FunctionElement[int]):
    """Days since 1970-01-01 of a DATE column, computed by the database (NULL stays
    NULL): integers decode with one numpy call, where date objects (or SQLite's ISO
    text) cost a Python call each."""

    type = BigInteger()
    inherit_cache = True


@compiles(DayNumber, "sqlite")
def _day_number_sqlite(element: DayNumber, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores dates as ISO text; julianday of a date is a whole day plus .5.
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 AS INTEGER)"


@compiles(DayNumber)
def _day_number(element: DayNumber, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: date - date is an integer number of days.
    return f"({compiler.process(element.clauses, **kw)} - DATE '1970-01-01')"


# Month index of every day from 1970 to 2199: a day number's month is one look-up
# (numpy's calendar conversion costs several microseconds a call, which the single
# enterprise path pays for every branch).
_MONTH_OF_DAY: NDArray[np.int64] = (
    np.arange((dt.date(2200, 1, 1) - EPOCH).days).astype("datetime64[D]").astype("datetime64[M]")
).astype(np.int64) + np.int64(EPOCH_MONTH)
_MONTH_OF_DAY.setflags(write=False)


def month_numbers(days: NDArray[np.int64]) -> NDArray[np.int64]:
    """Month index (year * 12 + month - 1) of each day number."""
    if days.size and 0 <= days.min() and days.max() < len(_MONTH_OF_DAY):
        looked_up: NDArray[np.int64] = _MONTH_OF_DAY[days]
        return looked_up
    months: NDArray[np.int64] = days.astype("datetime64[D]").astype("datetime64[M]").astype(
        np.int64
    ) + np.int64(EPOCH_MONTH)
    return months
