"""The packed monthly series the features read (``credit.features.series``): they hold
what the rows say (sums of amounts, ranks of grades, NaN for a missing month or value),
ingestion keeps them current in the load's own transaction (a first load, a corrected
month, a new month, a file read in several chunks), they equal a rebuild from the data
tables, the migration that created the table fills it from data already loaded, and
``finance credit rebuild-series`` repairs them after rows were changed by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, delete, select, update
from typer.testing import CliRunner

from credit.features import series
from credit.features.series import DTYPE, MEASURES_OF
from credit.models import MonthlySeries
from finance.cli.main import app
from finance.core import migrate
from finance.govdata.models import data_table
from finance.ingestion.service import ingest_file
from tests.builders import months, registration_row, tax_row, uscc, write_csv

AS_OF = dt.date(2025, 1, 31)
A, B = uscc(1), uscc(2, city="410400")
Stored = dict[tuple[str, str], tuple[dt.date, int, bytes]]


def _stored(engine: Engine) -> Stored:
    with engine.connect() as connection:
        rows = connection.execute(select(MonthlySeries)).all()
    return {(r.uscc, r.category): (r.first_month, r.months, r.packed) for r in rows}


def _rebuilt(engine: Engine) -> Stored:
    """What a rebuild from the data tables writes (rolled back afterwards)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        series.rebuild(connection)
        rows = connection.execute(select(MonthlySeries)).all()
        transaction.rollback()
    return {(r.uscc, r.category): (r.first_month, r.months, r.packed) for r in rows}


def _measures(stored: Stored, code: str, category: str) -> dict[str, Any]:
    first, length, values = stored[(code, category)]
    array = np.frombuffer(values, dtype=DTYPE).reshape(len(MEASURES_OF[category]), length)
    return {"first": first, **dict(zip(MEASURES_OF[category], array.tolist(), strict=True))}


@pytest.fixture
def registered(engine: Engine, tmp_path: Path) -> Engine:
    path = write_csv(
        tmp_path / "registration.csv", "registration", [registration_row(A), registration_row(B)]
    )
    assert ingest_file(engine, "registration", path, as_of=AS_OF).exit_code == 0
    return engine


def _load(engine: Engine, tmp_path: Path, name: str, rows: list[dict[str, str]]) -> None:
    result = ingest_file(engine, "tax", write_csv(tmp_path / name, "tax", rows), as_of=AS_OF)
    assert result.exit_code == 0, result.as_dict()


def test_ingestion_keeps_the_series_current(registered: Engine, tmp_path: Path) -> None:
    # January to June 2024 without March; May graded D.
    first = [tax_row(A, p) for p in months(2024, 1, 6) if p != "2024-03"]
    first[3] = tax_row(A, "2024-05", credit_rating="D", arrears="7")
    _load(registered, tmp_path, "tax1.csv", first)
    stored = _stored(registered)
    assert set(stored) == {(A, "tax")}  # B has no tax rows, so no series
    a = _measures(stored, A, "tax")
    total = 120_050 + 30_000 + 4_510 + 1_200
    nan = float("nan")
    assert a["first"] == dt.date(2024, 1, 1)
    np.testing.assert_array_equal(a["tax_total"], [total, total, nan, total, total, total])
    np.testing.assert_array_equal(a["tax_arrears"], [0, 0, nan, 0, 700, 0])
    np.testing.assert_array_equal(a["tax_rating"], [2, 2, nan, 2, 5, 2])
    assert stored == _rebuilt(registered)

    # A corrected February, a new July and an earlier November 2023 for A, B's first
    # month; January unchanged.
    second = [
        tax_row(A, "2023-11"),
        tax_row(A, "2024-01"),
        tax_row(A, "2024-02", vat_paid="99"),
        tax_row(A, "2024-07"),
        tax_row(B, "2023-12"),
    ]
    _load(registered, tmp_path, "tax2.csv", second)
    stored = _stored(registered)
    a = _measures(stored, A, "tax")
    assert a["first"] == dt.date(2023, 11, 1)
    np.testing.assert_array_equal(
        a["tax_total"],
        [total, nan, total, 9_900 + 30_000 + 4_510 + 1_200, nan, total, total, total, total],
    )
    b = _measures(stored, B, "tax")
    assert (b["first"], b["tax_total"]) == (dt.date(2023, 12, 1), [total])
    assert stored == _rebuilt(registered)


def test_a_file_read_in_several_chunks(registered: Engine, tmp_path: Path) -> None:
    rows = [tax_row(code, p) for p in months(2015, 1, 120) for code in (A, B)]
    path = write_csv(tmp_path / "tax.csv", "tax", rows)
    assert ingest_file(registered, "tax", path, as_of=AS_OF, chunk_rows=64).exit_code == 0
    stored = _stored(registered)
    assert {key: value[:2] for key, value in stored.items()} == {
        (A, "tax"): (dt.date(2015, 1, 1), 120),
        (B, "tax"): (dt.date(2015, 1, 1), 120),
    }
    assert stored == _rebuilt(registered)


def test_the_migration_fills_the_series_from_loaded_data(
    registered: Engine, tmp_path: Path
) -> None:
    _load(
        registered, tmp_path, "tax.csv", [tax_row(c, p) for c in (A, B) for p in months(2024, 1, 3)]
    )
    before = _stored(registered)
    assert len(before) == 2
    migrate.downgrade(registered, "0580_loans_row_version")
    migrate.upgrade(registered)
    assert _stored(registered) == before


def test_rebuild_series_after_rows_changed_by_hand(registered: Engine, tmp_path: Path) -> None:
    _load(registered, tmp_path, "tax.csv", [tax_row(A, p) for p in months(2024, 1, 3)])
    table = data_table("tax")
    with registered.begin() as connection:  # outside ingestion: the series go stale
        connection.execute(
            update(table).where(table.c.period == dt.date(2024, 2, 1)).values(vat_paid_fen=0)
        )
        connection.execute(delete(table).where(table.c.period == dt.date(2024, 3, 1)))
    assert _stored(registered) != _rebuilt(registered)
    result = CliRunner().invoke(app, ["credit", "rebuild-series", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["series"] == 1
    stored = _stored(registered)
    assert stored == _rebuilt(registered)
    assert _measures(stored, A, "tax")["tax_total"] == [155_760, 35_710]
