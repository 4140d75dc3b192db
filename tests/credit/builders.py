"""Builders that put enterprises, department data and loans straight into the tables, and a
small seeded province whose default risk shows in its data (for training tests)."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from credit import industry
from credit.features import series
from finance.enterprises.models import Enterprise
from finance.govdata.categories import REGISTRY
from finance.govdata.models import data_table
from finance.ingestion.models import IngestBatch
from finance.institutions.models import Bank
from finance.lending.models import Loan, SyntheticLoanTruth
from products.models import LoanProduct

CITIES = ("410100", "410300", "410400", "410700")
SECTIONS = ("C", "F", "G", "I", "M")
SIZES = ("micro", "small", "medium")


def uscc_for(number: int) -> str:
    return f"91410100MA{number:08d}"


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass
class DataBuilder:
    """Inserts rows for tests; every department row points at one ingestion batch."""

    session: Session
    batch_id: int = 0
    _counter: int = 0
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        batch = IngestBatch(
            category="mixed",
            source_department="tests",
            file_name="builders.py",
            file_sha256="0" * 64,
            file_bytes=0,
            file_format="csv",
            as_of_date=dt.date(2026, 1, 1),
            ingested_by="tests",
        )
        self.session.add(batch)
        self.session.flush()
        self.batch_id = batch.id

    def enterprise(
        self,
        uscc: str,
        *,
        founded_on: dt.date = dt.date(2015, 3, 1),
        capital_fen: int = 500_000_000,
        size_class: str = "small",
        industry_section: str = "C",
        city_code: str = "410100",
    ) -> str:
        self.session.add(
            Enterprise(
                uscc=uscc,
                name=f"测试企业{uscc[-4:]}",
                legal_rep_name="张三",
                legal_rep_id_number="410102198001011234",
                founded_on=founded_on,
                registered_capital_fen=capital_fen,
                status="active",
                division_code=city_code,
                city_code=city_code,
                industry_section=industry_section,
                industry_division="13",
                size_class=size_class,
                record_date=founded_on,
            )
        )
        return uscc

    def row(self, category: str, uscc: str, **values: Any) -> None:
        """One department record; unspecified required money/int columns default to 0."""
        spec = REGISTRY[category]
        record: dict[str, Any] = {"uscc": uscc}
        for column in spec.columns:
            if column.db_name in values:
                record[column.db_name] = values[column.db_name]
            elif column.name in spec.key:
                self._counter += 1
                record[column.db_name] = f"K{self._counter}"
            elif column.required and column.kind.value in ("money", "int"):
                record[column.db_name] = 0
            else:
                record[column.db_name] = None
        unknown = set(values) - set(record)
        if unknown:
            raise KeyError(f"{category}: no columns {sorted(unknown)}")
        record.update(
            source_department=spec.department,
            batch_id=self.batch_id,
            ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            as_of_date=dt.date(2026, 1, 1),
        )
        self._pending.setdefault(category, []).append(record)

    def flush(self) -> None:
        added = bool(self.session.new)  # enterprises (or other rows) not written yet
        self.session.flush()
        for category, records in self._pending.items():
            self.session.execute(insert(data_table(category)), records)
            # As ingestion does: the packed monthly series the features read.
            series.refresh(self.session.connection(), category, {r["uscc"] for r in records})
        # As ingestion does: the industry index, after its inputs changed.
        if added or industry.SOURCE in self._pending:
            industry.refresh(self.session.connection())
        self._pending.clear()
        self.session.flush()


# As-of dates around the awkward enterprise's records (a day before and on a filing).
AWKWARD_DATES = (dt.date(2022, 2, 1), dt.date(2023, 6, 1), dt.date(2023, 6, 2), dt.date(2024, 7, 9))


def awkward_enterprises(builder: DataBuilder, number: int = 7) -> tuple[str, str]:
    """An enterprise whose data is awkward (gaps, missing ratings, NULL amounts and dates,
    records after every as-of date, several annual reports on one day) and one with no
    department data at all; not flushed."""
    uscc = builder.enterprise(uscc_for(number), capital_fen=123_456_789)
    bare = builder.enterprise(uscc_for(number + 1))  # no department data at all
    for month in range(30):
        period = add_months(dt.date(2022, 1, 1), month)
        if month % 7 == 3:
            continue  # a gap
        builder.row(
            "tax",
            uscc,
            period=period,
            vat_paid_fen=(month * 37_00) % 500_00,
            cit_paid_fen=11_11,
            arrears_fen=0 if month % 4 else 10_00,
            credit_rating=None if month % 6 == 0 else "ABMCD"[month % 5],
        )
        if month % 3 == 0:
            builder.row("social_insurance", uscc, period=period, insured_employees=month % 4)
        builder.row("customs", uscc, period=period, import_value_fen=month * 1_00)
        if month % 2:
            builder.row(
                "customs",
                uscc,
                period=add_months(period, 40),  # after every as-of date below
                export_value_fen=1,
            )
        builder.row("utilities", uscc, period=period, electricity_kwh=0 if month > 20 else 900)
    for day, role, closed in (
        (dt.date(2022, 6, 1), "defendant", None),
        (dt.date(2023, 6, 1), "plaintiff", dt.date(2023, 9, 1)),
        (dt.date(2023, 6, 1), "respondent", dt.date(2024, 3, 1)),
    ):
        builder.row(
            "judicial",
            uscc,
            filed_on=day,
            case_type="enforcement",
            role=role,
            cause="执行",
            amount_fen=None,
            status="closed" if closed else "open",
            closed_on=closed,
            dishonest_debtor=role == "respondent",
        )
    for employees, revenue in ((12, None), (30, 5_00), (None, 9_00)):
        builder.row(
            "registration",
            uscc,
            event_date=dt.date(2023, 5, 20),
            event_type="annual_report",
            change_item=f"{employees}",
            name="测试企业",
            legal_rep_name="张三",
            legal_rep_id_number="410102198001011234",
            founded_on=dt.date(2015, 3, 1),
            registered_capital_fen=1,
            status="active",
            division_code="410100",
            industry_division="13",
            employees=employees,
            revenue_fen=revenue,
        )
    builder.row(
        "penalties",
        uscc,
        decided_on=dt.date(2023, 12, 1),
        authority="税务局",
        reason="逾期申报",
        penalty_type="suspension",
        amount_fen=None,
    )
    builder.row(
        "ip",
        uscc,
        ip_type="trademark",
        title="商标",
        granted_on=dt.date(2020, 1, 1),
        status="valid",
    )
    return uscc, bare


@dataclass(frozen=True)
class Province:
    usccs: list[str]
    loan_ids: list[int]
    first_month: dt.date
    months: int


def build_province(
    session: Session,
    *,
    enterprises: int = 400,
    months: int = 36,
    first_month: dt.date = dt.date(2022, 1, 1),
    seed: int = 7,
) -> Province:
    """A small province: each enterprise has a hidden risk that drives falling tax and
    power use, arrears, court cases and penalties, and the default of one loan taken in
    the second half of the period (with the amount borrowed against the revenue). The true
    PD of each loan is recorded as the oracle."""
    rng = random.Random(seed)
    builder = DataBuilder(session)
    bank = Bank(code="TESTBANK", name="测试银行", name_en="Test Bank", kind="city_commercial")
    session.add(bank)
    session.flush()
    product = LoanProduct(bank_id=bank.id, code="TEST-CREDIT")
    session.add(product)
    session.flush()
    usccs: list[str] = []
    loans: list[tuple[Loan, float]] = []
    for number in range(enterprises):
        risk = rng.gauss(0.0, 1.0)
        uscc = builder.enterprise(
            uscc_for(number),
            founded_on=dt.date(rng.randint(2005, 2021), rng.randint(1, 12), rng.randint(1, 28)),
            capital_fen=rng.randint(10, 5000) * 1_000_000,
            size_class=rng.choice(SIZES),
            industry_section=rng.choice(SECTIONS),
            city_code=rng.choice(CITIES),
        )
        usccs.append(uscc)
        base_tax = rng.lognormvariate(11, 1)
        employees = rng.randint(3, 200)
        for year in range(first_month.year, first_month.year + months // 12):
            builder.row(
                "registration",
                uscc,
                event_date=dt.date(year, 4, rng.randint(1, 28)),
                event_type="annual_report",
                change_item="",
                name=f"测试企业{number}",
                legal_rep_name="张三",
                legal_rep_id_number="410102198001011234",
                founded_on=dt.date(2005, 1, 1),
                registered_capital_fen=100_000_000,
                status="active",
                division_code="410100",
                industry_division="13",
                employees=None if rng.random() < 0.1 else employees,
                revenue_fen=int(base_tax * 120 * 100),
            )
        base_power = rng.lognormvariate(9, 1)
        decline = max(0.0, risk) * 0.03
        for month in range(months):
            period = add_months(first_month, month)
            level = max(0.0, 1.0 - decline * month) * rng.uniform(0.8, 1.2)
            if rng.random() < 0.95:
                builder.row(
                    "tax",
                    uscc,
                    period=period,
                    vat_paid_fen=int(base_tax * level * 100),
                    cit_paid_fen=int(base_tax * level * 30),
                    iit_withheld_fen=int(employees * 5000),
                    other_paid_fen=0 if rng.random() < 0.5 else 1234,
                    arrears_fen=int(base_tax * 50) if risk > 1.0 and rng.random() < 0.3 else 0,
                    credit_rating=rng.choice("AB") if risk < 0.5 else rng.choice("MCD"),
                )
            builder.row(
                "social_insurance",
                uscc,
                period=period,
                insured_employees=max(0, int(employees * level)),
                contributions_paid_fen=int(employees * level * 120_000),
                arrears_fen=50_000 if risk > 1.2 and rng.random() < 0.4 else 0,
            )
            builder.row(
                "utilities",
                uscc,
                period=period,
                electricity_kwh=int(base_power * level * (1.2 if month % 12 in (6, 7) else 1.0)),
                water_m3=int(base_power * level / 10),
                overdue_bills_fen=20_000 if risk > 1.5 and rng.random() < 0.3 else 0,
            )
            if number % 5 == 0:
                builder.row(
                    "housing_fund",
                    uscc,
                    period=period,
                    contributors=employees,
                    amount_fen=employees * 80_000,
                )
            if number % 7 == 0:
                builder.row(
                    "customs",
                    uscc,
                    period=period,
                    import_value_fen=int(base_tax * 1000 * level),
                    export_value_fen=int(base_tax * 2000 * level),
                    customs_credit="general" if risk < 1.5 else "dishonest",
                )
        end = add_months(first_month, months)
        span = (end - first_month).days
        for _ in range(_poisson(rng, math.exp(risk - 1.0))):
            filed = first_month + dt.timedelta(days=rng.randrange(span))
            closed = filed + dt.timedelta(days=rng.randint(30, 400))
            builder.row(
                "judicial",
                uscc,
                filed_on=filed,
                case_type=rng.choice(("civil", "enforcement")),
                role=rng.choice(("defendant", "respondent", "plaintiff")),
                cause="买卖合同纠纷",
                amount_fen=rng.randint(1, 500) * 100_000,
                status="closed" if closed < end else "pending",
                closed_on=closed if closed < end else None,
                dishonest_debtor=risk > 2.0,
            )
        for _ in range(_poisson(rng, math.exp(risk - 1.5))):
            builder.row(
                "penalties",
                uscc,
                decided_on=first_month + dt.timedelta(days=rng.randrange(span)),
                authority="市场监督管理局",
                reason="未按规定公示年报",
                penalty_type=rng.choice(("warning", "fine", "suspension")),
                amount_fen=rng.randint(0, 50) * 100_000,
            )
        if rng.random() < 0.3:
            builder.row(
                "ip",
                uscc,
                ip_type=rng.choice(("invention_patent", "trademark")),
                title="一种装置",
                granted_on=first_month + dt.timedelta(days=rng.randrange(span)),
                status="valid",
            )
        if rng.random() < 0.2:
            builder.row(
                "procurement",
                uscc,
                awarded_on=first_month + dt.timedelta(days=rng.randrange(span)),
                purchaser="某市政府",
                project="办公设备采购",
                amount_fen=rng.randint(10, 1000) * 100_000,
            )
        disbursed = add_months(first_month, rng.randint(months // 2, months - 1)) + dt.timedelta(
            days=rng.randint(0, 27)
        )
        # Borrowing a lot against the revenue adds risk.
        amount_fen = rng.randint(10, 300) * 1_000_000
        leverage = math.log(amount_fen / (base_tax * 120 * 100))
        true_pd = 1.0 / (1.0 + math.exp(-(-1.7 + 1.4 * risk + 0.6 * leverage)))
        defaulted = rng.random() < true_pd
        loan = Loan(
            uscc=uscc,
            bank_id=bank.id,
            product_id=product.id,
            amount_fen=amount_fen,
            term_months=12,
            rate_pct=Decimal("4.5"),
            guarantee="pure_credit",
            disbursed_on=disbursed,
            maturity_on=add_months(disbursed, 12),
            status="defaulted" if defaulted else "settled",
            defaulted_on=disbursed + dt.timedelta(days=rng.randint(90, 360)) if defaulted else None,
            synthetic=True,
        )
        loans.append((loan, true_pd))
    session.flush()
    builder.flush()
    session.add_all(loan for loan, _ in loans)
    session.flush()
    session.add_all(
        SyntheticLoanTruth(loan_id=loan.id, true_pd=true_pd, seed=seed) for loan, true_pd in loans
    )
    session.flush()
    return Province(usccs, [loan.id for loan, _ in loans], first_month, months)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
