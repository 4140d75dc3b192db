"""One typed table per data category, built from the category registry.

Every row carries its lineage: source department, ingestion batch, ingestion time and
the as-of date the department stated for its extract.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, Index, Integer, String, Table, Text
from sqlalchemy.types import TypeEngine

from finance.core.db import Base
from finance.core.types import UTCDateTime
from finance.govdata.categories import CATEGORIES, Category, Kind
from finance.govdata.categories import Column as ColumnSpec

LINEAGE_COLUMNS = ("source_department", "batch_id", "ingested_at", "as_of_date")


def _sql_type(spec: ColumnSpec) -> TypeEngine[Any]:
    match spec.kind:
        case Kind.TEXT | Kind.ENUM | Kind.ID_NUMBER | Kind.DIVISION | Kind.INDUSTRY:
            if spec.kind is Kind.TEXT and (spec.max_length or 0) > 255:
                return Text()
            length = spec.max_length or {Kind.ID_NUMBER: 18, Kind.DIVISION: 6}.get(spec.kind, 32)
            return String(length)
        case Kind.INT | Kind.MONEY:
            return BigInteger()
        case Kind.DATE | Kind.MONTH:
            return Date()
        case Kind.BOOL:
            return Boolean()
    raise ValueError(f"no SQL type for {spec.kind}")


def _build(category: Category) -> Table:
    """The table of one category. Its primary key is the natural key (enterprise plus the
    category's key columns): a surrogate id would only add an index to every bulk load.
    ``uscc`` and ``batch_id`` carry no foreign-key triggers either: ingestion checks both in
    the same transaction that writes the rows, and registry rows are never deleted."""
    key_columns = set(category.key)
    columns: list[Column[Any]] = [Column("uscc", String(18), primary_key=True)]
    for spec in category.columns:
        # An absent optional key part is stored as the empty string.
        key = spec.name in key_columns
        columns.append(
            Column(
                spec.db_name, _sql_type(spec), primary_key=key, nullable=not (key or spec.required)
            )
        )
    columns += [
        Column("source_department", String(64), nullable=False),
        Column("batch_id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
        Column("ingested_at", UTCDateTime, nullable=False),
        Column("as_of_date", Date, nullable=False),
    ]
    indexes: list[Index] = []
    # Reads are "one enterprise, a date range": the primary key serves them when the key
    # starts with the date column; otherwise the date needs its own index.
    if category.key[0] != category.date_column:
        indexes.append(Index(f"ix_{category.table_name}_uscc_date", "uscc", category.date_column))
    return Table(
        category.table_name,
        Base.metadata,
        *columns,
        *indexes,
        comment=f"{category.zh} / {category.en} ({category.department})",
    )


DATA_TABLES: Mapping[str, Table] = MappingProxyType({c.name: _build(c) for c in CATEGORIES})


def data_table(category: str) -> Table:
    return DATA_TABLES[category]
