"""The industry employment index: its values, how features read it, no look-ahead, and
ingestion keeping it current (rescoring reads it as it stands)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit import industry
from credit.features import batch_features, enterprise_features
from credit.models import IndustryIndex
from finance.cli.main import app
from finance.ingestion.service import ingest_file
from tests.builders import months, registration_row, tax_row, write_csv
from tests.builders import uscc as make_uscc
from tests.credit.builders import DataBuilder, add_months, uscc_for

FIRST = dt.date(2023, 1, 1)
MONTHS = 18  # 2023-01 .. 2024-06
STEP = math.log(21 / 11) / 2  # month 12: one of two matched enterprises grows from 10 to 20


def _insured(builder: DataBuilder, uscc: str, month: int, employees: int) -> None:
    builder.row(
        "social_insurance", uscc, period=add_months(FIRST, month), insured_employees=employees
    )


def _section_c(session: Session) -> tuple[str, str]:
    """Two manufacturers (section C): one doubles its insured employees in month 12 (from
    10 to 20); the other has 30, misses month 5 and reports 60 from month 6 (a change over
    two months, which is no month's change). A retailer (section F) has 11 months, too
    few for an index."""
    builder = DataBuilder(session)
    grows = builder.enterprise(uscc_for(1), industry_section="C")
    gap = builder.enterprise(uscc_for(2), industry_section="C")
    retailer = builder.enterprise(uscc_for(3), industry_section="F")
    for month in range(MONTHS):
        _insured(builder, grows, month, 10 if month < 12 else 20)
        if month != 5:
            _insured(builder, gap, month, 30 if month < 5 else 60)
        if month < 11:
            _insured(builder, retailer, month, 5 + month)
    builder.flush()
    return grows, gap


def test_index_chains_matched_changes_against_the_usual_level(session: Session) -> None:
    _section_c(session)
    assert industry.refresh(session.connection()) == MONTHS - industry.MIN_MONTHS + 1
    rows = session.execute(
        select(IndustryIndex.section, IndustryIndex.period, IndustryIndex.value).order_by(
            IndustryIndex.period
        )
    ).all()
    assert {row.section for row in rows} == {"C"}  # F has too few months
    values = {row.period: row.value for row in rows}
    # The chained level is 0 up to month 11 and STEP from month 12; the index is the level
    # minus its mean over the months so far.
    assert values[add_months(FIRST, 11)] == 0
    assert values[add_months(FIRST, 12)] == pytest.approx(STEP - STEP / 13, rel=1e-12)
    assert values[add_months(FIRST, 17)] == pytest.approx(STEP - 6 * STEP / 18, rel=1e-12)
    counts = dict(session.execute(select(IndustryIndex.period, IndustryIndex.enterprises)).all())
    assert counts[add_months(FIRST, 12)] == 2
    # Refreshing again rewrites the same rows.
    assert industry.refresh(session.connection()) == len(rows)
    assert session.scalar(select(IndustryIndex.value).where(IndustryIndex.period == FIRST)) is None


def test_only_matched_enterprises_move_it(session: Session) -> None:
    """An enterprise entering the section (with many employees) moves nothing in its first
    month and counts from its second."""
    _section_c(session)
    builder = DataBuilder(session)
    newcomer = builder.enterprise(uscc_for(4), industry_section="C")
    for month in range(14, MONTHS):
        _insured(builder, newcomer, month, 500)
    builder.flush()
    values = industry.compute(session.connection()).set_index("period")
    assert values.loc[add_months(FIRST, 14), "enterprises"] == 2
    assert values.loc[add_months(FIRST, 15), "enterprises"] == 3
    assert values.loc[add_months(FIRST, 17), "value"] == pytest.approx(STEP - 6 * STEP / 18)


def test_features_read_the_latest_month_before_the_as_of_month(session: Session) -> None:
    grows, gap = _section_c(session)
    industry.refresh(session.connection())
    expected = {
        dt.date(2023, 12, 31): math.nan,  # month 10: before a year of data
        dt.date(2024, 1, 31): 0.0,  # month 11 (2023-12): the level is still 0
        dt.date(2024, 2, 15): STEP - STEP / 13,  # month 12 (2024-01)
        dt.date(2024, 9, 10): STEP - 6 * STEP / 18,  # month 17 (2024-06), three months back
        dt.date(2024, 10, 1): math.nan,  # four months back: too old
    }
    requests = pd.DataFrame(
        {"uscc": [u for u in (grows, gap) for _ in expected], "as_of": list(expected) * 2}
    )
    batch = batch_features(session, requests)["industry_employment_index"].tolist()
    for position, request in enumerate(requests.itertuples()):
        single = enterprise_features(session, request.uscc, request.as_of)
        value = single["industry_employment_index"]
        want = expected[request.as_of]
        if math.isnan(want):
            assert math.isnan(value)
            assert math.isnan(batch[position])
        else:
            assert value == pytest.approx(want, rel=1e-12, abs=1e-15)
            assert value == batch[position]  # the same stored number on both paths


def test_no_look_ahead(session: Session) -> None:
    """Reports of the as-of month (not complete yet) and later change nothing, for the
    section's enterprises or newcomers, once the index is refreshed."""
    grows, gap = _section_c(session)
    industry.refresh(session.connection())
    as_of = dt.date(2024, 7, 10)  # reads month 17 (2024-06), the last one so far
    requests = pd.DataFrame({"uscc": [grows, gap], "as_of": [as_of, as_of]})
    before = batch_features(session, requests)["industry_employment_index"].tolist()
    single_before = enterprise_features(session, grows, as_of)["industry_employment_index"]

    builder = DataBuilder(session)
    late = builder.enterprise(uscc_for(5), industry_section="C")
    for month in range(MONTHS, 30):
        for uscc in (grows, gap, late):
            _insured(builder, uscc, month, 1 if month % 2 else 9_999)
    builder.flush()
    industry.refresh(session.connection())
    after = batch_features(session, requests)["industry_employment_index"].tolist()
    assert after == before
    assert enterprise_features(session, grows, as_of)["industry_employment_index"] == single_before
    # Later as-of dates do see them.
    later = enterprise_features(session, grows, dt.date(2025, 3, 1))
    assert later["industry_employment_index"] != single_before


def _stored_index(engine: Engine) -> list[tuple[str, dt.date, float, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                IndustryIndex.section,
                IndustryIndex.period,
                IndustryIndex.value,
                IndustryIndex.enterprises,
            ).order_by(IndustryIndex.section, IndustryIndex.period)
        ).all()
    return [tuple(row) for row in rows]


def _computed_index(engine: Engine) -> list[tuple[str, dt.date, float, int]]:
    with engine.connect() as connection:
        frame = industry.compute(connection)
    rows = [(str(s), p, float(v), int(n)) for s, p, v, n in frame.itertuples(index=False)]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def _si_rows(codes: list[str], periods: list[str], employees: int) -> list[dict[str, str]]:
    return [
        {
            "uscc": code,
            "period": period,
            "insured_employees": str(employees + serial),
            "contributions_paid": "8000",
            "arrears": "0",
        }
        for serial, code in enumerate(codes)
        for period in periods
    ]


def test_ingestion_keeps_the_index_current(engine: Engine, tmp_path: Path) -> None:
    """A social-insurance load rewrites the index in its own transaction; so does a
    registration load (sections); a tax load changes none of its inputs and leaves it;
    ``rebuild-series`` rewrites it after a change by hand."""
    as_of = dt.date(2025, 3, 31)
    makers = [make_uscc(i) for i in range(1, 4)]  # industry division 13: section C
    traders = [make_uscc(i) for i in range(4, 6)]

    def load(category: str, rows: list[dict[str, str]]) -> int | None:
        path = write_csv(tmp_path / f"{category}-{len(rows)}.csv", category, rows)
        result = ingest_file(engine, category, path, as_of=as_of)
        assert result.exit_code == 0, result.as_dict()
        assert result.as_dict()["industry_index_rows"] == result.industry_index_rows
        return result.industry_index_rows

    registrations = [registration_row(c) for c in makers]
    registrations += [registration_row(c, industry_division="51") for c in traders]
    assert load("registration", registrations) == 0  # no insured employees yet
    first = load("social_insurance", _si_rows(makers + traders, months(2024, 1, 13), 10))
    stored = _stored_index(engine)
    assert first == len(stored) > 0
    assert {row[0] for row in stored} == {"C", "F"}
    assert stored == _computed_index(engine)
    # A new month with more employees moves the index, at once.
    assert load("social_insurance", _si_rows(makers, ["2025-02"], 40)) == first + 1
    assert _stored_index(engine) == _computed_index(engine) != stored
    current = _stored_index(engine)
    assert load("tax", [tax_row(c, "2025-01") for c in makers]) is None
    assert _stored_index(engine) == current
    # Changed by hand: stale until rebuild-series rewrites it.
    with engine.begin() as connection:
        connection.execute(delete(IndustryIndex).where(IndustryIndex.section == "C"))
    assert _stored_index(engine) != _computed_index(engine)
    result = CliRunner().invoke(app, ["credit", "rebuild-series", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["industry_index_rows"] == len(current)
    assert _stored_index(engine) == current
