"""Reading the rows the features need, for one enterprise or many, into ``Inputs``.

Each source is one ``Branch``: the packed monthly series of the enterprises
(``credit.features.series``), an event table, the enterprise registry or the industry index
of the enterprises' sections. Its SELECT is written once,
in SQLAlchemy, and restricted to the enterprises asked for in one of three ways (one
USCC, a USCC range, a list of USCCs) and to the dates the requests can use. Dates come
back as day numbers (``DayNumber``), so decoding them is integer arithmetic.

Many enterprises: one query per branch, its rows decoded column by column with numpy.
One enterprise (online): the same branch SELECTs joined by ``UNION ALL`` into one round
trip (columns of a kind share a position of the union; where a branch has nothing there it
selects NULL, typed in the first branch so PostgreSQL can type the position), its rows
split by branch and decoded by the same code. The union is kept under psycopg's 4,096
characters (tables aliased, branch numbers inline, no labels), so the driver converts it
once per process rather than on every call.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import (
    LABEL_STYLE_NONE,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Float,
    Integer,
    LargeBinary,
    Select,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from credit.features.catalogue import CATEGORICAL, MONTHS, STALE_MONTHS
from credit.features.days import DayNumber, month_numbers
from credit.features.inputs import (
    EPOCH,
    EVENTS,
    MEASURES,
    MONTHLY_TABLES,
    NULLABLE_NUMBERS,
    Array,
    Events,
    Inputs,
    month_start,
)
from credit.features.series import unpack_into
from credit.models import IndustryIndex, MonthlySeries
from finance.core.db import BINARY_RESULTS
from finance.core.gc_pause import cyclic_gc_paused
from finance.enterprises.models import Enterprise
from finance.govdata.models import data_table

IN_LIST_SIZE = 2000


class Kind(Enum):
    """The kinds of value a union position holds."""

    INT = BigInteger
    FLOAT = Float
    TEXT = String
    BLOB = LargeBinary


class Source(Enum):
    SERIES = "series"
    EVENT = "event"
    REGISTRY = "registry"
    INDUSTRY = "industry"


class Restriction(Enum):
    """How the enterprises asked for are selected: bound parameters ``uscc``;
    ``first`` and ``last``; ``usccs`` (expanding)."""

    ONE = "one"
    RANGE = "range"
    LIST = "list"


def _restrict(column: Any, restriction: Restriction) -> ColumnElement[bool]:
    if restriction is Restriction.ONE:
        condition: ColumnElement[bool] = column == bindparam("uscc")
    elif restriction is Restriction.RANGE:
        condition = column.between(bindparam("first"), bindparam("last"))
    else:
        condition = column.in_(bindparam("usccs", expanding=True))
    return condition


# Date bounds, bound per call: events before ``before`` (the latest as-of date), industry
# months from ``industry_from`` to before ``month_end``. The series hold every month.
_MONTH_END = bindparam("month_end", type_=Date)
_BEFORE = bindparam("before", type_=Date)
_INDUSTRY_FROM = bindparam("industry_from", type_=Date)


_NULL: ColumnElement[Any] = literal_column("NULL")  # rendered bare, without a label


def _kind(column: Any) -> Kind:
    if isinstance(column.type, LargeBinary):
        return Kind.BLOB
    if isinstance(column.type, String):
        return Kind.TEXT
    if isinstance(column.type, Float):
        return Kind.FLOAT
    return Kind.INT  # integers, booleans as 0/1, dates as day numbers


@dataclass(frozen=True, slots=True)
class Branch:
    """One source of rows: its table, key column (``uscc``, or ``section`` for the
    industry index), date column and the further columns read."""

    name: str
    source: Source
    table: Any
    date_column: str
    columns: tuple[str, ...]

    def expression(self, table: Any, column: str) -> ColumnElement[Any]:
        expression: ColumnElement[Any] = table.c[column]
        if isinstance(expression.type, Date):
            return DayNumber(expression)
        if isinstance(expression.type, Boolean):
            return cast(expression, Integer)
        return expression

    def select(
        self,
        restriction: Restriction,
        layout: Mapping[str, int] | None = None,
        number: int = 0,
        typed_nulls: bool = True,
    ) -> Select[Any]:
        """The branch's SELECT: key, day number of the date, its columns in order; or,
        given the union's ``layout`` (column -> position), the branch number first and
        every position of the union filled (NULLs where the branch has nothing: typed
        when ``typed_nulls``, as the union's first branch must be on PostgreSQL, which
        resolves ``a UNION ALL b UNION ALL c`` pair by pair)."""
        # In the union the table is aliased ``b`` (each branch is its own scope): the one
        # statement stays short enough for psycopg to cache its conversion (4,096
        # characters, ``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH``).
        table = self.table if layout is None else self.table.alias("b")
        if self.source is Source.INDUSTRY:
            key = table.c.section
            where = [table.c.period >= _INDUSTRY_FROM, table.c.period < _MONTH_END]
            if restriction is Restriction.ONE:
                # One enterprise: its section's months only. Many: every section's
                # months of the window (at most 21 sections a month), which costs less
                # than finding the sections of thousands of enterprises first: on
                # PostgreSQL that semi-join took 15-65 ms a 5,000-enterprise chunk.
                sections = select(Enterprise.industry_section).where(
                    _restrict(Enterprise.uscc, restriction)
                )
                where.append(key.in_(sections.scalar_subquery()))
        else:
            key = table.c.uscc
            where = [_restrict(key, restriction)]
            if self.source is Source.EVENT:
                where.append(table.c[self.date_column] < _BEFORE)
        day = DayNumber(table.c[self.date_column])
        own = [self.expression(table, c) for c in self.columns]
        if layout is None:
            return select(key, day, *own).where(*where)
        expressions: list[ColumnElement[Any]] = [literal_column(str(number), Integer), key, day]
        expressions += [
            cast(null(), kind.value) if typed_nulls else _NULL for kind in _POSITION_KINDS
        ]
        for column, expression in zip(self.columns, own, strict=True):
            expressions[layout[column]] = expression
        # Rows are read by position: no column labels.
        return select(*expressions).where(*where).set_label_style(LABEL_STYLE_NONE)

    def positions(self, layout: Mapping[str, int] | None) -> tuple[int, int, list[int]]:
        """Row positions of the key, the day and each column, in the branch's own SELECT
        (no layout) or in the union's."""
        if layout is None:
            return 0, 1, [2 + i for i in range(len(self.columns))]
        return 1, 2, [layout[c] for c in self.columns]


REGISTRY_COLUMNS = ("registered_capital_fen", *CATEGORICAL)  # founded_on is the date

BRANCHES: tuple[Branch, ...] = (
    Branch(
        "series",
        Source.SERIES,
        MonthlySeries.__table__,
        "first_month",
        ("category", "months", "packed"),
    ),
    *(Branch(t, Source.EVENT, data_table(t), d, c) for t, (d, c) in EVENTS.items()),
    Branch("registry", Source.REGISTRY, Enterprise.__table__, "founded_on", REGISTRY_COLUMNS),
    Branch("industry", Source.INDUSTRY, IndustryIndex.__table__, "period", ("value",)),
)  # fmt: skip


def _union_layout() -> tuple[dict[str, dict[str, int]], tuple[Kind, ...]]:
    """Per branch, the union position of each column; and the kind of each position after
    the first three (branch number, key, day). A position holds one kind only."""
    kinds = [[_kind(b.table.c[c]) for c in b.columns] for b in BRANCHES]
    width = {k: max(row.count(k) for row in kinds) for k in Kind}
    start, offset = {}, 3
    for kind in Kind:
        start[kind], offset = offset, offset + width[kind]
    layouts: dict[str, dict[str, int]] = {}
    for branch, column_kinds in zip(BRANCHES, kinds, strict=True):
        used = dict.fromkeys(Kind, 0)
        layouts[branch.name] = {}
        for column, kind in zip(branch.columns, column_kinds, strict=True):
            layouts[branch.name][column] = start[kind] + used[kind]
            used[kind] += 1
    return layouts, tuple(k for k in Kind for _ in range(width[k]))


_LAYOUTS, _POSITION_KINDS = _union_layout()


@functools.cache
def branch_statement(branch: int, restriction: Restriction) -> Select[Any]:
    return BRANCHES[branch].select(restriction)


@functools.cache
def union_statement(also: Select[Any] | None = None) -> Any:
    """Every branch for one enterprise (``uscc``), in one statement; with ``also`` (a
    SELECT of at most one text value, such as the live model's version), a last row
    carrying its value, so the caller's own lookup shares the round trip."""
    branches = [
        b.select(Restriction.ONE, _LAYOUTS[b.name], number, typed_nulls=number == 0)
        for number, b in enumerate(BRANCHES)
    ]
    if also is not None:
        values: list[ColumnElement[Any]] = [literal_column(str(len(BRANCHES))), _NULL, _NULL]
        values += [_NULL] * len(_POSITION_KINDS)
        values[_ALSO_AT] = also.scalar_subquery()
        branches.append(select(*values).set_label_style(LABEL_STYLE_NONE))
    return union_all(*branches)


_ALSO_AT = 3 + _POSITION_KINDS.index(Kind.TEXT)  # the union position of ``also``'s value


# ---------------------------------------------------------------- requests


@dataclass(slots=True)
class Requests:
    """The (enterprise, as-of date, amount applied for) triples asked for."""

    usccs: list[str]
    as_of_day: NDArray[np.int64]
    amount_fen: Array
    months_end: NDArray[np.int64] = field(init=False)
    """Month index (year * 12 + month - 1) of each as-of date."""

    def __post_init__(self) -> None:
        self.months_end = month_numbers(self.as_of_day)


class _Matcher:
    """Which request(s) each row belongs to, by its USCC: a row of an enterprise with
    several requests (several loans in a training set) is used once per request."""

    def __init__(self, usccs: Sequence[str]) -> None:
        n = len(usccs)
        # Requests grouped by enterprise: ``order`` lists them enterprise by enterprise,
        # ``counts`` how many each enterprise has; None when each has one.
        self.order: NDArray[np.intp] | None = np.arange(n)
        self.counts: NDArray[np.intp] = np.array([n])
        self.index: pd.Index[Any] | None = None  # None: every request is of one enterprise
        if n and any(u != usccs[0] for u in usccs):
            index = pd.Index(usccs)
            if index.is_unique:
                self.index, self.order = index, None
            else:
                uniques, codes = np.unique(np.asarray(usccs, dtype=object), return_inverse=True)
                self.index = pd.Index(uniques)
                self.order = np.argsort(codes, kind="stable")
                self.counts = np.bincount(codes, minlength=len(uniques))

    def match(self, keys: Sequence[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """(row, request) pairs of rows with these USCCs."""
        if self.index is None and len(self.counts) == 1 and self.counts[0] == 1:
            return np.arange(len(keys)), np.zeros(len(keys), dtype=np.intp)  # one request
        if self.index is None:
            codes = np.zeros(len(keys), dtype=np.intp)
        else:
            codes = self.index.get_indexer(pd.Index(keys))
        if self.order is None:
            found = codes >= 0
            return np.flatnonzero(found), codes[found]
        known = codes >= 0
        counts = np.where(known, self.counts[np.where(known, codes, 0)], 0)
        row = np.repeat(np.arange(len(keys)), counts)
        starts = np.cumsum(self.counts) - self.counts
        first = np.repeat(starts[np.where(known, codes, 0)], counts)
        within = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        return row, self.order[first + within]


# ---------------------------------------------------------------- reading


def read(
    session: Session, requests: Requests, *, uscc_range: tuple[str, str] | None = None
) -> Inputs:
    """The inputs of every request. One enterprise: one round trip; many: one query per
    branch (by ``uscc_range`` when the requests cover every enterprise of a USCC range,
    else by lists of USCCs)."""
    return read_also(session, requests, uscc_range=uscc_range)[0]


def read_also(
    session: Session,
    requests: Requests,
    *,
    uscc_range: tuple[str, str] | None = None,
    also: Select[Any] | None = None,
) -> tuple[Inputs, Any]:
    """``read``, and the value of ``also`` (a SELECT of at most one text value; None
    without one): for one enterprise in the same round trip as its rows."""
    months_end = requests.months_end
    bounds = {
        "month_end": month_start(int(months_end.max())),
        "before": EPOCH + dt.timedelta(days=int(requests.as_of_day.max())),
        "industry_from": month_start(int(months_end.min()) - STALE_MONTHS),
    }
    connection = session.connection()
    distinct = sorted(set(requests.usccs))
    if len(distinct) == 1:
        rows = _fetch(connection, union_statement(also), {**bounds, "uscc": distinct[0]})
        by_branch: list[list[Any]] = [[] for _ in range(len(BRANCHES) + 1)]
        for row in rows:
            by_branch[row[0]].append(row)
        extra = by_branch[-1][0][_ALSO_AT] if by_branch[-1] else None
        layouts = [(by_branch[i], _LAYOUTS[b.name]) for i, b in enumerate(BRANCHES)]
        return decode(requests, layouts), extra
    extra = None if also is None else connection.execute(also).scalar()
    with cyclic_gc_paused():  # hundreds of thousands of row tuples (finance.core.gc_pause)
        branch_rows: list[tuple[Sequence[Any], Mapping[str, int] | None]] = []
        for number in range(len(BRANCHES)):
            if uscc_range is not None:
                parameters = {**bounds, "first": uscc_range[0], "last": uscc_range[1]}
                rows = _fetch(connection, branch_statement(number, Restriction.RANGE), parameters)
            else:
                statement = branch_statement(number, Restriction.LIST)
                rows = []
                for start in range(0, len(distinct), IN_LIST_SIZE):
                    chunk = distinct[start : start + IN_LIST_SIZE]
                    rows += _fetch(connection, statement, {**bounds, "usccs": chunk})
            branch_rows.append((rows, None))
        return decode(requests, branch_rows), extra


_BINARY = {BINARY_RESULTS: True}


def _fetch(connection: Connection, statement: Any, parameters: dict[str, Any]) -> list[Any]:
    """The statement's rows as the driver's tuples. SQLAlchemy compiles and executes it
    (and converts the parameters); its result rows are skipped because no column needs
    a result conversion here (integers, day numbers, floats, text), and wrapping a
    chunk's few hundred thousand rows in ``Row`` objects and taking them apart again cost
    about as much CPU as reading them. On PostgreSQL the rows come in the binary format
    (``finance.core.db.BINARY_RESULTS``: the same values, without printing and parsing
    them as text)."""
    result = connection.execute(statement, parameters, execution_options=_BINARY)
    try:
        rows = list(result.cursor.fetchall())
    finally:
        result.close()
    return rows


def decode(
    requests: Requests, branch_rows: Sequence[tuple[Sequence[Any], Mapping[str, int] | None]]
) -> Inputs:
    """``Inputs`` from each branch's rows (in ``BRANCHES`` order) and their layout."""
    n = len(requests.usccs)
    matcher = _Matcher(requests.usccs)
    months_end = requests.months_end
    panel = np.full((n, len(MEASURES), MONTHS), np.nan)
    events: dict[str, Events] = {}
    founded = np.full(n, np.nan)
    capital = np.full(n, np.nan)
    categories: dict[str, list[str | None]] = {name: [None] * n for name in CATEGORICAL}
    industry_rows: list[tuple[Sequence[Any], list[Any], NDArray[np.int64]]] = []
    for branch, (rows, layout) in zip(BRANCHES, branch_rows, strict=True):
        if not rows:  # nothing to decode (often so for one enterprise's events)
            if branch.source is Source.EVENT:
                events[branch.name] = _no_events(branch.columns)
            continue
        key_at, day_at, at = branch.positions(layout)
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        keys = columns[key_at]
        values = [columns[p] for p in at]
        if branch.source is Source.INDUSTRY:
            industry_rows.append((keys, list(values[0]), _ints(columns[day_at])))
            continue
        row, request = matcher.match(keys)
        if branch.source is Source.SERIES:
            _unpack_series(panel, row, request, months_end, columns[day_at], values)
        elif branch.source is Source.EVENT:
            day = _ints(columns[day_at])[row]
            keep = day < requests.as_of_day[request]
            row, request = row[keep], request[keep]
            events[branch.name] = Events(
                request=request.astype(np.int64),
                day=day[keep],
                columns={
                    column: _event_column(column, column_values)[row]
                    for column, column_values in zip(branch.columns, values, strict=True)
                },
            )
        else:  # the registry: one row per enterprise
            founded[request] = _floats(columns[day_at])[row]
            by_column = dict(zip(branch.columns, values, strict=True))
            capital[request] = _floats(by_column["registered_capital_fen"])[row]
            for name in CATEGORICAL:
                column_values = by_column[name]
                target = categories[name]
                for r, q in zip(row.tolist(), request.tolist(), strict=True):
                    value = column_values[r]
                    target[q] = None if value is None else str(value)
    return Inputs(
        n=n,
        as_of_day=requests.as_of_day,
        amount_fen=requests.amount_fen,
        industry=_industry(industry_rows, categories["industry_section"], months_end),
        panel=panel,
        events=events,
        founded_day=founded,
        capital_fen=capital,
        categories=categories,
    )


def _unpack_series(
    panel: Array,
    row: NDArray[np.intp],
    request: NDArray[np.intp],
    months_end: NDArray[np.int64],
    first_days: Sequence[Any],
    values: list[Sequence[Any]],
) -> None:
    """The series rows (category, months, packed values; matched to their requests) into
    the panel, one ``frombuffer`` per category and series length."""
    category = np.asarray(values[0], dtype=object)[row]
    months = _ints(values[1])[row]
    first = month_numbers(_ints(first_days))[row]
    blobs = values[2]
    for table in MONTHLY_TABLES:
        of_table = category == table
        for length in np.unique(months[of_table]).tolist():
            chosen = np.flatnonzero(of_table & (months == length))
            unpack_into(
                panel,
                request[chosen],
                months_end[request[chosen]] - MONTHS,
                table,
                first[chosen],
                length,
                [blobs[r] for r in row[chosen].tolist()],
            )


def _industry(
    parts: list[tuple[Sequence[Any], list[Any], NDArray[np.int64]]],
    sections: list[str | None],
    months_end: NDArray[np.int64],
) -> Array:
    """Per request, its section's index in the latest month before the as-of month, at
    most ``STALE_MONTHS`` back (NaN without one)."""
    index: dict[tuple[str, int], float] = {}
    for keys, values, days in parts:
        for section, month, value in zip(keys, month_numbers(days).tolist(), values, strict=True):
            index[(section, month)] = float(value)
    result = np.full(len(sections), np.nan)
    for request, (section, end) in enumerate(zip(sections, months_end.tolist(), strict=True)):
        if section is None:
            continue
        for month in range(end - 1, end - 1 - STALE_MONTHS, -1):
            value = index.get((section, month))
            if value is not None:
                result[request] = value
                break
    return result


def _floats(values: Sequence[Any]) -> Array:
    """Numbers with NULL as NaN."""
    return np.array(values, dtype=np.float64)


def _ints(values: Sequence[Any]) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _event_column(column: str, values: Sequence[Any]) -> NDArray[Any]:
    """Amounts in fen (NULL as 0, or NaN for ``NULLABLE_NUMBERS``), dates as day numbers
    (NULL as -1), flags as 0/1, text as objects."""
    if column in NULLABLE_NUMBERS:
        return _floats(values)
    if column.endswith("_fen"):
        numbers = _floats(values)
        return np.where(np.isnan(numbers), 0.0, numbers)
    if column == "closed_on":
        numbers = _floats(values)
        return np.where(np.isnan(numbers), -1.0, numbers).astype(np.int64)
    if column == "dishonest_debtor":
        numbers = _floats(values)
        return np.where(np.isnan(numbers), 0.0, numbers).astype(np.int64)
    return np.array(values, dtype=object)


@functools.cache
def _no_events(columns: tuple[str, ...]) -> Events:
    """The events of a branch with no rows, built once per branch: its arrays are empty
    and read-only, so every request without such events shares them (building them cost
    about a tenth of one enterprise's read)."""
    empty = np.zeros(0, dtype=np.int64)
    events = Events(request=empty, day=empty, columns={c: _event_column(c, ()) for c in columns})
    for array in (empty, *events.columns.values()):
        array.setflags(write=False)
    return events
