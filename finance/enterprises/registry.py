"""Keeping the registry in step with the market-registration category.

An enterprise's registry row is its latest registration snapshot (by event date); its size
figures come from the latest snapshot that reported them (annual reports), and its size
class is derived from those by the 2011 rules. The same rule, applied to the snapshots
dated inside a date range only, gives the record as that range's data make it
(``record_within``: a bank's consented profile).
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
    connection: Connection,
    usccs: Any,
    columns: tuple[str, ...],
    *,
    figures: bool,
    window: tuple[dt.date, dt.date] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per enterprise among ``usccs`` (a list or a subquery), its latest snapshot (with
    ``figures``: the latest that reported size figures), dated inside ``window`` if given."""
    table = data_table("registration")
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
    ).where(table.c.uscc.in_(usccs))
    if window is not None:
        ranked = ranked.where(table.c.event_date.between(*window))
    if figures:
        ranked = ranked.where(table.c.employees.is_not(None) | table.c.revenue_fen.is_not(None))
    subquery = ranked.subquery()
    rows = connection.execute(select(subquery).where(subquery.c.rank == 1)).mappings()
    return {row["uscc"]: dict(row) for row in rows}


def _record(uscc: str, snap: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """The registry record of a snapshot and the latest reported size figures."""
    employees = reported.get("employees")
    revenue, assets = reported.get("revenue_fen"), reported.get("total_assets_fen")
    city = city_of(snap["division_code"])
    return {
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
    }


def record_within(
    connection: Connection, uscc: str, date_from: dt.date, date_to: dt.date
) -> tuple[dict[str, Any], dt.date | None] | None:
    """The registry record as the snapshots dated from ``date_from`` to ``date_to`` make
    it, and the date of the snapshot its size figures come from (``None`` when none of
    them reported figures); ``None`` when no snapshot is dated inside the range."""
    window = (date_from, date_to)
    snap = _latest(connection, [uscc], _SNAPSHOT, figures=False, window=window).get(uscc)
    if snap is None:
        return None
    reported = _latest(connection, [uscc], _FIGURES, figures=True, window=window).get(uscc, {})
    return _record(uscc, snap, reported), reported.get("event_date")


def refresh_from_registration(connection: Connection, batch_id: int, now: dt.datetime) -> int:
    """Upsert the registry rows of every enterprise whose registration records this batch
    inserted or changed. Returns how many enterprises were refreshed."""
    snapshots_table = data_table("registration")
    touched = (
        select(snapshots_table.c.uscc).where(snapshots_table.c.batch_id == batch_id).distinct()
    )
    snapshots = _latest(connection, touched, _SNAPSHOT, figures=False)
    if not snapshots:
        return 0
    figures = _latest(connection, touched, _FIGURES, figures=True)
    records: list[dict[str, Any]] = []
    for uscc, snap in snapshots.items():
        records.append(
            {
                **_record(uscc, snap, figures.get(uscc, {})),
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
