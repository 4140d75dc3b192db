"""The synthetic loan book is the same kind of loan book as the platform's: each decided
application has its decision and a legal path through the state machine, each loan its
schedule from ``finance.lending.schedule`` and repayments allocated by the book's rules,
and its status, days past due and default as those rules say on the last day; the credit
model's label read from ``loans`` is the drawn outcome."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit.dataset import loan_outcomes
from finance.cli.main import app
from finance.core import migrate
from finance.core.dates import add_months
from finance.core.db import Base, make_engine
from finance.core.settings import Settings
from finance.institutions.models import Bank
from finance.lending import accounting
from finance.lending.models import (
    ApplicationDecision,
    ApplicationStatus,
    ApplicationTransition,
    Instalment,
    Loan,
    LoanApplication,
    Repayment,
    SyntheticLoanTruth,
)
from finance.lending.schedule import RepaymentMethod, schedule
from finance.lending.states import TRANSITIONS, Event
from finance.synth import repayments
from finance.synth.province import SynthConfig
from finance.synth.service import generate, load, write
from products.models import LoanProduct

END = dt.date(2026, 9, 30)
ARGS = ["synth", "--enterprises", "400", "--months", "30", "--seed", "7", "--end", "2026-09"]
CONFIG = SynthConfig(enterprises=400, months=30, seed=7, end=dt.date(2026, 9, 1))
COUNTED = (Loan, Instalment, Repayment, ApplicationDecision, ApplicationTransition)
LOADED = (LoanApplication, *COUNTED)


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in COUNTED
    }


def test_the_loaded_synthetic_book_follows_the_loan_book_rules(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    args = [*ARGS, "--out", str(tmp_path / "out"), "--load", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    book = generate(CONFIG).book  # the same seed: the frames of what was loaded
    with Session(engine) as session:
        loans = session.scalars(select(Loan).order_by(Loan.id)).all()
        assert len(loans) == len(book.loans) > 100
        instalments: dict[int, list[Instalment]] = defaultdict(list)
        for instalment in session.scalars(
            select(Instalment).order_by(Instalment.loan_id, Instalment.number)
        ):
            instalments[instalment.loan_id].append(instalment)
        paid: Counter[int] = Counter()
        for repayment in session.scalars(select(Repayment)):
            parts = repayment.penalty_fen + repayment.interest_fen + repayment.principal_fen
            assert parts == repayment.amount_fen > 0
            assert repayment.paid_on <= END
            paid[repayment.loan_id] += repayment.principal_fen
        statuses = Counter(loan.status for loan in loans)
        assert {"current", "settled", "defaulted"} <= set(statuses), statuses
        for loan in loans:
            own = instalments[loan.id]
            assert loan.synthetic
            assert sum(i.principal_fen for i in own) == loan.amount_fen
            assert own[-1].due_on == loan.maturity_on
            assert loan.method in {m.value for m in RepaymentMethod}
            assert loan.contract_no
            assert loan.apr_pct is not None
            assert paid[loan.id] == sum(i.paid_principal_fen for i in own)
            if loan.status == "settled":
                assert loan.settled_on is not None
                assert sum(accounting.owed(loan, own, loan.settled_on).values()) == 0
                assert all(i.settled_on is not None for i in own)
            else:
                assert loan.dpd_as_of == END
                assert loan.days_past_due == accounting.days_past_due(own, END)
            if loan.defaulted_on is not None:
                oldest = min(i.due_on for i in own if accounting.unpaid_due(i) > 0)
                assert loan.defaulted_on == oldest + dt.timedelta(days=90)
                assert loan.status == "defaulted"
                assert loan.max_days_past_due >= 90
            else:
                assert loan.status != "defaulted"
                assert loan.max_days_past_due < 90
        # Each decided application has one decision; lent ones are disbursed within the
        # offer; every application's transitions are a legal path to its status.
        applications = session.scalars(select(LoanApplication)).all()
        decisions = {d.application_id: d for d in session.scalars(select(ApplicationDecision))}
        per_application = Counter(session.scalars(select(ApplicationDecision.application_id)).all())
        assert max(per_application.values()) == 1
        by_application = {loan.application_id: loan for loan in loans}
        steps: dict[int, list[ApplicationTransition]] = defaultdict(list)
        for step in session.scalars(
            select(ApplicationTransition).order_by(ApplicationTransition.id)
        ):
            steps[step.application_id].append(step)
        for application in applications:
            decision = decisions.get(application.id)
            assert (decision is None) == (application.status == "withdrawn")
            assert application.product_version_id is not None
            assert application.repayment_method is not None
            if decision is not None:
                assert decision.model_version == "synthetic-bank-view"
                assert decision.pd is not None
                assert decision.score is not None
                assert decision.band is not None
            loan = by_application.get(application.id)
            if loan is None:
                assert application.status in ("declined", "withdrawn")
            else:
                assert application.status == ApplicationStatus.DISBURSED.value
                assert decision is not None
                assert decision.outcome == "approved"
                assert decision.amount_fen is not None
                assert loan.amount_fen <= decision.amount_fen
                assert decision.annual_rate_pct == loan.rate_pct
                assert decision.apr_pct == loan.apr_pct
                assert decision.method == loan.method
                assert len(decision.schedule) == len(instalments[loan.id])
            if application.status == "declined":
                assert decision is not None
                assert decision.outcome == "declined"
                assert 1 <= len(decision.reasons) <= 4
                assert all(r["zh"] and r["en"] for r in decision.reasons)
            status = ApplicationStatus.DRAFT
            at = application.applied_at
            for step in steps[application.id]:
                assert step.from_status == status.value
                target = TRANSITIONS[(status, Event(step.event))][0]
                assert step.to_status == target.value
                assert step.at >= at
                status, at = target, step.at
            assert status.value == application.status
            assert application.version == 1 + len(steps[application.id])
        # The credit model's label, read from the loans, is the drawn outcome for every
        # loan whose 12 months are complete.
        labels = loan_outcomes(session, END)
        assert len(labels) > 20
        by_contract = {loan.id: loan.contract_no for loan in loans}
        truth = book.truth.assign(contract_no=book.loans["contract_no"]).set_index("contract_no")
        drawn = truth.loc[labels["loan_id"].map(by_contract), "defaulted_12m"].to_numpy()
        assert (labels["bad"].to_numpy() == drawn.astype(int)).all()
        assert labels["bad"].sum() > 0
        before = _counts(session)
    again = CliRunner().invoke(app, args)
    assert json.loads(again.stdout)["loaded"]["loans"] == 0
    with Session(engine) as session:
        assert _counts(session) == before


def test_postgresql_copy_writes_the_rows_sqlite_inserts(engine: Engine, tmp_path: Path) -> None:
    """The loan book COPYed into PostgreSQL is, row for row, what SQLAlchemy's inserts
    write into SQLite: ids, the references between the tables and every value (only the
    load's own time differs)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("compares PostgreSQL's COPY with SQLite's inserts")
    synthetic = generate(SynthConfig(enterprises=200, months=18, seed=11, end=END))
    paths = write(synthetic, tmp_path / "files")
    sqlite = make_engine(f"sqlite:///{tmp_path / 'inserted.db'}")
    try:
        migrate.upgrade(sqlite)
        for database in (engine, sqlite):
            load(database, synthetic, paths)
        for model in (*LOADED, SyntheticLoanTruth, Bank, LoanProduct):
            table = Base.metadata.tables[model.__tablename__]
            statement = select(*(c for c in table.c if c.name != "created_at")).order_by(
                *table.primary_key.columns
            )
            with engine.connect() as copied, sqlite.connect() as inserted:
                rows = copied.execute(statement).all()
                assert rows == inserted.execute(statement).all(), table.name
                assert rows, table.name
    finally:
        sqlite.dispose()


def test_defaults_fall_inside_twelve_months_and_agree_with_the_truth() -> None:
    book = generate(SynthConfig(enterprises=2000, months=36, seed=3, end=dt.date(2026, 9, 1)))
    loans, truth = book.book.loans, book.book.truth
    horizon = [add_months(day, 12) for day in pd.to_datetime(loans["disbursed_on"]).dt.date]
    defaulted = [None if pd.isna(day) else day.date() for day in loans["defaulted_on"]]
    within = np.array([d is not None and d < h for d, h in zip(defaulted, horizon, strict=True)])
    complete = truth["complete_window"].to_numpy()
    assert complete.sum() > 100
    assert (within[complete] == truth["defaulted_12m"].to_numpy()[complete]).all()
    assert within.sum() > 10
    # A loan defaults only when it was drawn to.
    assert not (loans["defaulted_on"].notna().to_numpy() & ~truth["defaulted_12m"].to_numpy()).any()


def _borrowers(count: int, seed: int) -> list[repayments.Borrower]:
    rng = np.random.default_rng(seed)
    borrowers = []
    for _ in range(count):
        method = str(rng.choice([m.value for m in RepaymentMethod]))
        term = int(rng.choice([6, 12, 24, 36])) if method != "bullet" else 6
        disbursed = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 900)))
        defaults = rng.random() < 0.2
        borrowers.append(
            repayments.Borrower(
                amount_fen=int(rng.integers(5, 500)) * 100_000 + int(rng.integers(0, 99)),
                rate_pct=Decimal(f"{rng.uniform(3, 8):.2f}"),
                term_months=term,
                method=method,
                fees_fen=0,
                disbursed_on=disbursed,
                default_by=disbursed + dt.timedelta(days=int(rng.integers(90, 366)))
                if defaults
                else None,
                late_share=float(rng.random()) if rng.random() < 0.4 else None,
                late_days=int(rng.integers(1, 30)),
                settle_on=disbursed + dt.timedelta(days=int(rng.integers(40, 700)))
                if rng.random() < 0.3
                else None,
            )
        )
    return borrowers


def test_random_borrowers_reach_every_status_and_their_books_balance() -> None:
    """400 random borrowers (late, defaulting, settling early) through the book's rules:
    every status occurs, and each loan's repayments are what its instalments show paid."""
    borrowers = _borrowers(400, seed=1)
    serviced = repayments.service(borrowers, END)
    assert set(serviced.loans["status"]) == {"current", "overdue", "defaulted", "settled"}
    paid = (
        serviced.instalments.assign(
            paid=lambda f: f["paid_principal_fen"] + f["paid_interest_fen"] + f["paid_penalty_fen"]
        )
        .groupby("loan")["paid"]
        .sum()
    )
    received = serviced.repayments.groupby("loan")["amount_fen"].sum()
    pd.testing.assert_series_equal(
        paid[received.index], received, check_names=False, check_dtype=False
    )
    assert (paid.drop(received.index) == 0).all()


@pytest.mark.parametrize("method", [m.value for m in RepaymentMethod])
def test_each_method_repays_its_schedule_on_time(method: str) -> None:
    start = dt.date(2025, 1, 31)
    borrower = repayments.Borrower(
        12_345_678, Decimal("4.35"), 6, method, 0, start, None, None, 0, None
    )
    serviced = repayments.service([borrower], END)
    plan = schedule(12_345_678, Decimal("4.35"), 6, RepaymentMethod(method), start)
    assert serviced.loans["status"].tolist() == ["settled"]
    assert serviced.repayments["paid_on"].tolist() == [i.due_on for i in plan]
    assert serviced.repayments["interest_fen"].tolist() == [i.interest_fen for i in plan]
    assert serviced.repayments["principal_fen"].tolist() == [i.principal_fen for i in plan]
