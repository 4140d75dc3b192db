"""Point-in-time features: known values, no look-ahead, batch and single paths agree."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from credit import industry
from credit.features import CATEGORICAL, FEATURE_NAMES, batch_features, enterprise_features
from tests.credit.builders import (
    AWKWARD_DATES,
    DataBuilder,
    add_months,
    awkward_enterprises,
    build_province,
    uscc_for,
)

AS_OF = dt.date(2024, 7, 15)


def _history(builder: DataBuilder, uscc: str) -> None:
    """Two years of monthly data before AS_OF and a few events."""
    for month in range(24):
        period = add_months(dt.date(2022, 7, 1), month)
        builder.row(
            "tax",
            uscc,
            period=period,
            vat_paid_fen=100_00 if month < 12 else 50_00,
            arrears_fen=0 if month < 23 else 777_00,
            credit_rating="B",
        )
        builder.row("utilities", uscc, period=period, electricity_kwh=1000 + month)
    builder.row(
        "judicial",
        uscc,
        filed_on=dt.date(2024, 1, 10),
        case_type="civil",
        role="defendant",
        cause="借款合同纠纷",
        amount_fen=12_345_00,
        status="closed",
        closed_on=dt.date(2024, 9, 1),
        dishonest_debtor=False,
    )
    for year, employees in ((2022, 40), (2023, 35)):
        builder.row(
            "registration",
            uscc,
            event_date=dt.date(year, 5, 20),
            event_type="annual_report",
            change_item="",
            name="测试企业",
            legal_rep_name="张三",
            legal_rep_id_number="410102198001011234",
            founded_on=dt.date(2015, 3, 1),
            registered_capital_fen=500_000_000,
            status="active",
            division_code="410100",
            industry_division="13",
            employees=employees,
            revenue_fen=employees * 100_000_00,
        )
    builder.row(
        "penalties",
        uscc,
        decided_on=dt.date(2021, 5, 1),
        authority="税务局",
        reason="逾期申报",
        penalty_type="fine",
        amount_fen=2_000_00,
    )


def _future(builder: DataBuilder, uscc: str) -> None:
    """Records dated on or after AS_OF (the as-of month is not complete yet)."""
    for month in range(0, 6):
        period = add_months(dt.date(2024, 7, 1), month)
        builder.row(
            "tax", uscc, period=period, vat_paid_fen=9_999_999_00, arrears_fen=5, credit_rating="D"
        )
        builder.row("utilities", uscc, period=period, electricity_kwh=1, overdue_bills_fen=9)
        builder.row("social_insurance", uscc, period=period, insured_employees=1)
        builder.row("customs", uscc, period=period, export_value_fen=1, customs_credit="dishonest")
    for day in (AS_OF, AS_OF + dt.timedelta(days=40)):
        builder.row(
            "judicial",
            uscc,
            filed_on=day,
            case_type="enforcement",
            role="respondent",
            cause="执行",
            amount_fen=1,
            status="enforcing",
            dishonest_debtor=True,
        )
        builder.row(
            "penalties",
            uscc,
            decided_on=day,
            authority="市场监督管理局",
            reason="虚假宣传",
            penalty_type="licence_revocation",
            amount_fen=1,
        )
        builder.row(
            "ip", uscc, ip_type="invention_patent", title="专利", granted_on=day, status="valid"
        )
        builder.row(
            "procurement", uscc, awarded_on=day, purchaser="市政府", project="项目", amount_fen=1
        )
        builder.row(
            "registration",
            uscc,
            event_date=day,
            event_type="change",
            change_item="法定代表人",
            name="测试企业",
            legal_rep_name="李四",
            legal_rep_id_number="410102198001011234",
            founded_on=dt.date(2015, 3, 1),
            registered_capital_fen=1,
            status="active",
            division_code="410100",
            industry_division="13",
            employees=9999,
            revenue_fen=1,
        )


def test_known_values(session: Session) -> None:
    builder = DataBuilder(session)
    uscc = builder.enterprise(
        uscc_for(1), founded_on=dt.date(2014, 7, 15), capital_fen=1_000_000_00
    )
    _history(builder, uscc)
    builder.flush()
    features = enterprise_features(session, uscc, AS_OF)
    assert features["tax_paid_12m_yuan"] == 12 * 50
    assert features["tax_paid_trend"] == (50 - 100) / (50 + 100)
    assert features["tax_months_reported_12m"] == 12
    assert features["tax_zero_months_12m"] == 0
    assert features["tax_arrears_yuan"] == 777
    assert features["tax_arrears_months_12m"] == 1
    assert features["tax_arrears_months_6m"] == 1
    assert features["tax_paid_trend_6m"] == 0
    assert features["reported_employees"] == 35
    assert features["reported_revenue_yuan"] == 3_500_000
    assert features["tax_rating_rank"] == 2
    assert features["electricity_12m_kwh"] == sum(1000 + m for m in range(12, 24))
    assert features["court_cases_defendant_24m"] == 1
    assert features["open_cases_defendant"] == 1  # closed only after the as-of date
    assert features["court_amount_defendant_24m_yuan"] == 12_345
    assert features["penalties_24m"] == 0  # older than 24 months
    assert features["dishonest_debtor"] == 0
    assert math.isnan(features["insured_employees"])  # no social insurance data
    assert features["age_years"] == (AS_OF - dt.date(2014, 7, 15)).days / 365.25
    assert features["registered_capital_yuan"] == 1_000_000
    assert features["size_class"] == "small"
    assert len(FEATURE_NAMES) >= 30
    # No application: the amount relative to revenue is unknown.
    assert math.isnan(features["amount_to_revenue"])


def test_amount_relative_to_revenue(session: Session) -> None:
    """The amount applied for over the latest reported revenue (plus 10,000 yuan, so that
    a zero or missing revenue gives a large, finite ratio)."""
    builder = DataBuilder(session)
    uscc = builder.enterprise(uscc_for(3))
    _history(builder, uscc)
    unreported = builder.enterprise(uscc_for(4))  # no annual report at all
    builder.flush()
    amount_fen = 1_000_000_00
    applied = enterprise_features(session, uscc, AS_OF, amount_fen)
    assert applied["amount_to_revenue"] == 1_000_000 / (3_500_000 + 10_000)
    assert enterprise_features(session, unreported, AS_OF, amount_fen)["amount_to_revenue"] == 100
    without = enterprise_features(session, uscc, AS_OF)
    for name in FEATURE_NAMES:
        if name != "amount_to_revenue":
            assert _same(applied[name], without[name]), name
    requests = pd.DataFrame(
        {
            "uscc": [uscc, uscc, unreported, uscc],
            "as_of": [AS_OF] * 4,
            "amount_fen": [amount_fen, None, amount_fen, np.nan],
        }
    )
    batch = batch_features(session, requests)["amount_to_revenue"].tolist()
    assert batch[0] == applied["amount_to_revenue"]
    assert batch[2] == 100
    assert math.isnan(batch[1])
    assert math.isnan(batch[3])
    assert math.isnan(batch_features(session, requests.drop(columns="amount_fen")).iloc[0, -1])


def _same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    return left == right


def test_no_look_ahead(session: Session) -> None:
    builder = DataBuilder(session)
    uscc = builder.enterprise(uscc_for(2))
    _history(builder, uscc)
    builder.flush()
    amount_fen = 500_000_00
    requests = pd.DataFrame({"uscc": [uscc], "as_of": [AS_OF], "amount_fen": [amount_fen]})
    single_before = enterprise_features(session, uscc, AS_OF, amount_fen)
    batch_before = batch_features(session, requests).iloc[0].to_dict()
    assert single_before["amount_to_revenue"] == 500_000 / (3_500_000 + 10_000)

    _future(builder, uscc)  # among them an annual report with a revenue of 0.01 yuan
    builder.flush()
    single_after = enterprise_features(session, uscc, AS_OF, amount_fen)
    batch_after = batch_features(session, requests).iloc[0].to_dict()
    for name in FEATURE_NAMES:
        assert _same(single_before[name], single_after[name]), name
        assert _same(batch_before[name], batch_after[name]), name

    # The same records do count once the as-of date has passed them.
    later = enterprise_features(session, uscc, dt.date(2025, 1, 15))
    assert later["dishonest_debtor"] == 1
    assert later["penalties_severe_all"] == 2
    assert later["registration_changes_12m"] == 2
    assert later["tax_rating_rank"] == 5
    assert later["reported_employees"] == 9999


def test_batch_and_single_paths_agree(session: Session) -> None:
    province = build_province(session, enterprises=60, months=30, seed=3)
    industry.refresh(session.connection())
    dates = [dt.date(2022, 3, 1), dt.date(2023, 2, 17), dt.date(2023, 8, 31), dt.date(2024, 9, 2)]
    requests = pd.DataFrame(
        {
            "uscc": [u for u in province.usccs for _ in dates] + ["91410100MA99999999"],
            "as_of": [d for _ in province.usccs for d in dates] + [dates[1]],
        }
    )
    # Every other request applies for an amount; the rest are profile requests.
    amounts = [None if i % 2 else 37 * 1_000_000 + i * 1_234 for i in range(len(requests))]
    requests["amount_fen"] = amounts
    batch = batch_features(session, requests)
    assert batch["industry_employment_index"].notna().sum() > len(batch) / 2
    assert list(batch.columns) == list(FEATURE_NAMES)
    assert len(batch) == len(requests)
    numeric = [n for n in FEATURE_NAMES if n not in CATEGORICAL]
    assert batch[numeric].notna().to_numpy().sum() > len(batch) * 20  # mostly filled
    for position, request in enumerate(requests.itertuples()):
        single = enterprise_features(session, request.uscc, request.as_of, amounts[position])
        row = batch.iloc[position]
        for name in numeric:
            assert np.array_equal(
                np.float64(single[name]), np.float64(row[name]), equal_nan=True
            ), (request.uscc, request.as_of, name, single[name], row[name])
        for name in CATEGORICAL:
            assert single[name] == row[name]


def test_paths_agree_on_gaps_nulls_and_ties(session: Session) -> None:
    """One enterprise alone (the online path's one-round-trip read) and in a batch (one
    query per table) give the same values where the data is awkward (missing months,
    missing ratings, NULL amounts and dates, several reports on one day)."""
    builder = DataBuilder(session)
    uscc, bare = awkward_enterprises(builder)
    builder.flush()
    industry.refresh(session.connection())
    dates = list(AWKWARD_DATES)
    requests = pd.DataFrame(
        {
            "uscc": [u for u in (uscc, bare) for _ in dates],
            "as_of": dates * 2,
            "amount_fen": [3, None, 10**12, 7_777_777] * 2,
        }
    )
    batch = batch_features(session, requests)
    for position, request in enumerate(requests.itertuples()):
        amount = requests["amount_fen"][position]
        single = enterprise_features(
            session, request.uscc, request.as_of, None if pd.isna(amount) else int(amount)
        )
        for name in FEATURE_NAMES:
            assert _same(single[name], batch.iloc[position][name]), (request, name)
