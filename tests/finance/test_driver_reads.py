"""Reads on the driver's cursor (``DriverSQL``) give what SQLAlchemy's Core gives: every
category's records, value for value and type for type (dates, UTC datetimes, booleans,
big integers), on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from finance.core.driver_sql import DriverSQL
from finance.govdata import service
from finance.govdata.categories import CATEGORIES
from finance.govdata.models import data_table
from tests.credit.builders import build_province


def _core_rows(session: Session, category: str, uscc: str) -> list[dict[str, Any]]:
    table = data_table(category)
    order = service._order_columns(service.REGISTRY[category], table)
    rows = session.execute(select(table).where(table.c.uscc == uscc).order_by(*order))
    return [service._public_row(service.REGISTRY[category], dict(row)) for row in rows.mappings()]


def test_every_category_reads_as_the_core_reads(session: Session) -> None:
    province = build_province(session, enterprises=40, months=24, seed=3)
    session.commit()
    compared = 0
    for category in CATEGORIES:
        for uscc in province.usccs[:40]:
            expected = _core_rows(session, category.name, uscc)
            page = service.records_page(
                session.connection(), uscc, category.name, limit=service.MAX_PAGE
            )
            assert len(page.items) == len(expected)
            for got, want in zip(page.items, expected, strict=True):
                assert got == want
                assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
            compared += len(expected)
    assert compared > 1000


def test_a_page_and_its_cursor_cover_the_records_once(session: Session) -> None:
    province = build_province(session, enterprises=5, months=24, seed=4)
    session.commit()
    uscc = province.usccs[0]
    first = service.records_page(session.connection(), uscc, "tax", limit=10)
    assert first.next_cursor is not None
    rest = service.records_page(
        session.connection(), uscc, "tax", cursor=first.next_cursor, limit=service.MAX_PAGE
    )
    periods = [row["period"] for row in first.items + rest.items]
    assert periods == sorted(periods)
    assert len(periods) == len(set(periods)) == len(_core_rows(session, "tax", uscc))
    assert all(isinstance(p, dt.date) for p in periods)


def test_values_given_to_the_driver_are_stored_as_the_core_stores_them(session: Session) -> None:
    """A UTC datetime and a date written by ``DriverSQL`` read back through the Core."""
    from authz.models import DailyCalls, LedgerHead

    head: Any = LedgerHead.__table__
    calls: Any = DailyCalls.__table__
    sql = DriverSQL(session.connection())
    sql.executemany(
        calls.insert(), [{"consent_id": "c1", "day": dt.date(2026, 11, 22), "calls": 3}]
    )
    assert session.execute(select(calls.c.day, calls.c.calls)).one() == (dt.date(2026, 11, 22), 3)
    assert sql.execute(select(head.c.seq).where(head.c.id == 1), {}).fetchone() is not None
    moment = dt.datetime(2026, 11, 22, 8, 30, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert DriverSQL.utc(moment) == moment
    assert DriverSQL.utc(moment).tzinfo == dt.UTC
    assert DriverSQL.utc("2026-11-22 00:30:01.000005") == moment
    assert DriverSQL.date("2026-11-22") == dt.date(2026, 11, 22)
