"""PostgreSQL's planner statistics after bulk writes (``finance.core.db.refresh_statistics``):
a table never analysed, or changed as much as would make autovacuum analyse it, is
analysed in the writer's transaction; a small change to a large analysed table is not;
ingestion and the industry index refresh keep their tables' statistics current (this
machine's PostgreSQL runs without autovacuum, like a server whose autovacuum is behind);
SQLite is left alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from credit import industry
from finance.core import db
from finance.core.db import refresh_statistics
from finance.ingestion.service import ingest_file
from tests.builders import months, registration_row, tax_row, uscc, write_csv

AS_OF = dt.date(2025, 1, 31)


def _si_row(code: str, period: str) -> dict[str, str]:
    return {
        "uscc": code,
        "period": period,
        "insured_employees": "12",
        "contributions_paid": "8000",
        "arrears": "0",
    }


def _estimate(connection: Connection, table: str) -> float:
    return float(
        connection.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = :t AND pg_table_is_visible(oid)"),
            {"t": table},
        ).scalar_one()
    )


@pytest.fixture
def postgresql(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    return engine


def test_a_table_is_analysed_when_never_analysed_or_changed_enough(postgresql: Engine) -> None:
    with postgresql.begin() as connection:
        connection.execute(text("CREATE TABLE planner_probe (n integer)"))
        connection.execute(text("INSERT INTO planner_probe SELECT generate_series(1, 1000)"))
        assert _estimate(connection, "planner_probe") < 0  # never analysed
        assert refresh_statistics(connection, {"planner_probe": 1000}) == ["planner_probe"]
        assert _estimate(connection, "planner_probe") == 1000  # in this transaction
    with postgresql.begin() as connection:
        assert _estimate(connection, "planner_probe") == 1000  # committed with it
        connection.execute(text("INSERT INTO planner_probe SELECT generate_series(1, 100)"))
        # 100 rows: not more than 50 + a tenth of 1,000, so left to autovacuum.
        assert refresh_statistics(connection, {"planner_probe": 100}) == []
        assert _estimate(connection, "planner_probe") == 1000
        connection.execute(text("INSERT INTO planner_probe SELECT generate_series(1, 151)"))
        assert refresh_statistics(connection, {"planner_probe": 151}) == ["planner_probe"]
        assert _estimate(connection, "planner_probe") == 1251
        # Nothing written, or a table that is not there: nothing to do.
        assert refresh_statistics(connection, {"planner_probe": 0, "no_such_table": 10**6}) == []
        connection.execute(text("DROP TABLE planner_probe"))


def test_sqlite_is_left_alone(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite")
    with engine.begin() as connection:
        assert refresh_statistics(connection, {"enterprises": 10**6}) == []
        assert (
            connection.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            ).scalar_one()
            == 0
        )


def test_ingestion_and_the_industry_refresh_analyse_what_they_wrote(
    postgresql: Engine, tmp_path: Path
) -> None:
    codes = [uscc(i) for i in range(1, 61)]
    files = {
        "registration": [registration_row(c) for c in codes],
        "tax": [tax_row(c, p) for c in codes for p in months(2024, 1, 12)],
        "social_insurance": [_si_row(c, p) for c in codes for p in months(2024, 1, 12)],
    }
    for category, rows in files.items():
        path = write_csv(tmp_path / f"{category}.csv", category, rows)
        assert ingest_file(postgresql, category, path, as_of=AS_OF).exit_code == 0
    with postgresql.connect() as connection:
        assert _estimate(connection, "enterprises") == 60
        assert _estimate(connection, "data_tax") == 720
        assert _estimate(connection, "data_social_insurance") == 720
        assert _estimate(connection, "credit_series") == 120  # tax and SI, 60 each
    with db.transaction(postgresql) as session:
        written = industry.refresh(session.connection())
    assert written > 0
    with postgresql.connect() as connection:
        assert _estimate(connection, "credit_industry_index") == written
