"""A data call's records are read through SQLAlchemy's Core with its type processing:
money as integer fen (never a float), dates as dates, booleans as booleans, load times as
aware UTC datetimes, for every category, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from finance.govdata import service
from finance.govdata.categories import CATEGORIES, Kind
from tests.credit.builders import build_province

EXPECTED = {
    Kind.MONEY: int,
    Kind.INT: int,
    Kind.DATE: dt.date,
    Kind.MONTH: dt.date,
    Kind.BOOL: bool,
}


def test_every_category_reads_with_its_types(session: Session) -> None:
    province = build_province(session, enterprises=20, months=24, seed=3)
    session.commit()
    checked = 0
    for category in CATEGORIES:
        for uscc in province.usccs[:20]:
            page = service.records_page(session.connection(), uscc, category.name, limit=50)
            for item in page.items:
                for column in category.columns:
                    value = item[column.db_name]
                    wanted = EXPECTED.get(column.kind)
                    if value is None or wanted is None:
                        continue
                    assert type(value) is wanted, (category.name, column.db_name, value)
                    checked += 1
                loaded = item["ingested_at"]
                assert isinstance(loaded, dt.datetime)
                assert loaded.utcoffset() == dt.timedelta(0)
    assert checked > 1000
