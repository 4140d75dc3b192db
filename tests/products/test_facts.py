"""The enterprise facts, point in time from the government tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from credit.features import enterprise_features
from products.facts import BY_NAME, FACTS, enterprise_facts, months_between
from tests.credit.builders import DataBuilder, add_months

AS_OF = dt.date(2026, 6, 15)
USCC = "91410100MA00000001"


def build(session: Session) -> None:
    data = DataBuilder(session)
    data.enterprise(
        USCC,
        founded_on=dt.date(2021, 7, 20),
        size_class="small",
        industry_section="F",
        city_code="410300",
    )
    first = dt.date(2024, 6, 1)  # the 24 months before June 2026
    for month in range(25):  # one month too many: June 2026 is not complete on the 15th
        period = add_months(first, month)
        recent = month >= 12
        data.row(
            "tax",
            USCC,
            period=period,
            vat_paid_fen=150_000 if recent else 100_000,
            credit_rating="A" if month < 20 else "B",
        )
        data.row(
            "social_insurance",
            USCC,
            period=period,
            insured_employees=12 if recent else 10,
        )
        data.row("utilities", USCC, period=period, overdue_bills_fen=0 if month < 23 else 8_800)
    for number, (filed, dishonest, case_type, role) in enumerate(
        [
            (dt.date(2025, 9, 1), True, "enforcement", "respondent"),
            (dt.date(2019, 1, 1), False, "enforcement", "respondent"),
            (dt.date(2025, 1, 1), False, "civil", "plaintiff"),
            (dt.date(2026, 6, 15), True, "enforcement", "respondent"),  # on the as-of day
        ]
    ):
        data.row(
            "judicial",
            USCC,
            case_number=f"C{number}",
            filed_on=filed,
            case_type=case_type,
            role=role,
            cause="合同纠纷",
            status="closed",
            dishonest_debtor=dishonest,
        )
    for number, (decided, repaired) in enumerate(
        [(dt.date(2025, 3, 1), False), (dt.date(2025, 4, 1), True), (dt.date(2020, 1, 1), None)]
    ):
        data.row(
            "penalties",
            USCC,
            decision_number=f"P{number}",
            decided_on=decided,
            authority="市场监管局",
            reason="x",
            penalty_type="fine",
            repaired=repaired,
        )
    for year, revenue in ((2024, 40_000_000), (2025, 50_000_000), (2026, None)):
        data.row(
            "registration",
            USCC,
            event_date=dt.date(year, 4, 30),
            event_type="annual_report",
            change_item="",
            name="测试",
            legal_rep_name="张三",
            legal_rep_id_number="410102198001011234",
            founded_on=dt.date(2021, 7, 20),
            registered_capital_fen=1,
            status="active",
            division_code="410300",
            industry_division="51",
            revenue_fen=revenue,
        )
    data.flush()


def test_every_fact_of_an_enterprise_point_in_time(session: Session) -> None:
    build(session)
    facts = enterprise_facts(session, USCC, AS_OF)
    values = {name: facts.value(name) for name in BY_NAME}
    assert values == {
        "months_in_operation": 58,  # 2021-07-20 to 2026-06-15
        "tax_credit_rating": "B",  # the latest month's rating
        "tax_paid_12m": 12 * 150_000,
        "tax_paid_trend": 50.0,  # 1,500 yuan a month against 1,000
        "annual_revenue": 50_000_000,  # the 2026 report has no revenue
        "annual_revenue_trend": 25.0,
        "insured_employees": 12,
        "insured_employees_trend": 20.0,
        "utility_arrears": 8_800,
        "dishonest_debtor_records": 1,  # the one filed on the as-of day is not yet known
        "enforcement_records": 2,
        "penalty_records": 2,  # the credit-repaired one is not held against it
        "city": "410300",
        "industry": "F",
        "size_class": "small",
        "score_band": None,
    }
    assert facts.count_within("enforcement_records", 12) == 1
    assert facts.count_within("penalty_records", 12) == 0
    assert facts.count_within("penalty_records", 24) == 1
    for fact in FACTS:
        assert facts.values[fact.name].source == fact.source
    assert facts.values["tax_paid_12m"].as_of == dt.date(2026, 1, 1)  # the builder's batch
    assert facts.with_score_band("B").value("score_band") == "B"


def test_facts_that_are_credit_features_are_the_same_quantity(session: Session) -> None:
    build(session)
    facts = enterprise_facts(session, USCC, AS_OF)
    features = enterprise_features(session, USCC, AS_OF)
    assert facts.value("tax_paid_12m") == round(features["tax_paid_12m_yuan"] * 100)
    assert facts.value("insured_employees") == features["insured_employees"]
    assert facts.value("utility_arrears") == round(features["utility_overdue_yuan"] * 100)
    assert facts.value("annual_revenue") == round(features["reported_revenue_yuan"] * 100)
    # The symmetric change of the features, (r - p) / (r + p), as a percentage change.
    c = features["tax_paid_trend"]
    assert facts.value("tax_paid_trend") == round(200 * c / (1 - c), 6)


def test_an_enterprise_without_data_has_unknown_facts(session: Session) -> None:
    data = DataBuilder(session)
    data.enterprise(USCC, founded_on=dt.date(2026, 5, 20))
    data.flush()
    facts = enterprise_facts(session, USCC, AS_OF)
    assert facts.value("months_in_operation") == 0
    for name in (
        "tax_credit_rating",
        "tax_paid_12m",
        "tax_paid_trend",
        "annual_revenue",
        "insured_employees",
        "utility_arrears",
    ):
        assert facts.value(name) is None, name
        assert facts.values[name].as_of is None
    assert facts.value("penalty_records") == 0
    assert months_between(dt.date(2024, 1, 31), dt.date(2024, 2, 29)) == 0
    assert months_between(dt.date(2024, 1, 31), dt.date(2024, 3, 1)) == 1
