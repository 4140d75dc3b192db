"""Keeping the registry in step with the market-registration category.

An enterprise's registry row is its latest registration snapshot (by event date); its size
figures come from the latest snapshot that reported them (annual reports), and its size
class is derived from those by the 2011 rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from finance.core.reference import city_of, section_of
from finance.enterprises.models import Enterprise
from finance.enterprises.size import classify
from finance.govdata.models import data_table

_SNAPSHOT = (
    "name",
    "legal_rep_name",
    "legal_rep_id_number",
    "founded_on",
    "registered_capital_fen",
    "status",
    "division_code",
    "industry_division",
    "industry_class",
)
_FIGURES = ("employees", "revenue_fen", "total_assets_fen")
_CHUNK = 5000


def _latest(
    connection: Connection, batch_id: int, columns: tuple[str, ...], *, figures: bool
) -> dict[str, dict[str, Any]]:
    table = data_table("registration")
    touched = select(table.c.uscc).where(table.c.batch_id == batch_id).distinct()
    rank = (
        func.row_number()
        .over(
            partition_by=table.c.uscc,
            order_by=(
                table.c.event_date.desc(),
                table.c.ingested_at.desc(),
                table.c.event_type,
                table.c.change_item,
            ),
        )
        .label("rank")
    )
    ranked = select(
        table.c.uscc, table.c.event_date, table.c.batch_id, *(table.c[c] for c in columns), rank
    ).where(table.c.uscc.in_(touched))
    if figures:
        ranked = ranked.where(table.c.employees.is_not(None) | table.c.revenue_fen.is_not(None))
    subquery = ranked.subquery()
    rows = connection.execute(select(subquery).where(subquery.c.rank == 1)).mappings()
    return {row["uscc"]: dict(row) for row in rows}


def refresh_from_registration(connection: Connection, batch_id: int, now: dt.datetime) -> int:
    """Upsert the registry rows of every enterprise whose registration records this batch
    inserted or changed. Returns how many enterprises were refreshed."""
    snapshots = _latest(connection, batch_id, _SNAPSHOT, figures=False)
    if not snapshots:
        return 0
    figures = _latest(connection, batch_id, _FIGURES, figures=True)
    records: list[dict[str, Any]] = []
    for uscc, snap in snapshots.items():
        reported = figures.get(uscc, {})
        employees = reported.get("employees")
        revenue, assets = reported.get("revenue_fen"), reported.get("total_assets_fen")
        city = city_of(snap["division_code"])
        records.append(
            {
                "uscc": uscc,
                **{c: snap[c] for c in _SNAPSHOT},
                "city_code": city.code if city else snap["division_code"],
                "industry_section": section_of(snap["industry_division"]) or "?",
                "employees": employees,
                "revenue_fen": revenue,
                "total_assets_fen": assets,
                "size_class": classify(
                    snap["industry_division"], employees, revenue, assets, snap["industry_class"]
                ).value,
                "record_date": snap["event_date"],
                "source_batch_id": snap["batch_id"],
                "created_at": now,
                "updated_at": now,
            }
        )
    table = Enterprise.__table__
    assert isinstance(table, Table)
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(records), _CHUNK):
        statement = insert(table)
        changed = {
            c.name: statement.excluded[c.name]
            for c in table.columns
            if c.name not in ("uscc", "created_at")
        }
        connection.execute(
            statement.on_conflict_do_update(index_elements=["uscc"], set_=changed),
            records[start : start + _CHUNK],
        )
    return len(records)
