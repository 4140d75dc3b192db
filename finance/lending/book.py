"""The loan book: disbursement (the loan and its schedule, in integer fen), repayments
(allocated to penalty, then interest, then principal; partial, full and early), the
schedule as due / paid / overdue, and days past due (current / overdue / defaulted at
90+ / settled, buckets 1-30, 31-60, 61-90, 90+).

Loans made here are the credit model's labels as the synthetic ones are: ``loans``
keeps ``defaulted_on`` (the first day 90+ days past due), ``settled_on`` and
``max_days_past_due``.

The rules themselves (penalty interest, allocation, days past due, status) are
``finance.lending.accounting``'s, on the rows loaded here; the synthetic generator runs the
same functions on the loans it simulates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from finance.core.db import retry_once
from finance.core.errors import Conflict, Invalid, NotFound
from finance.lending import accounting
from finance.lending import schedule as schedules
from finance.lending.accounting import DEFAULT_DAYS
from finance.lending.models import (
    ApplicationDecision,
    Instalment,
    Loan,
    LoanApplication,
    LoanStatus,
    Repayment,
)
from finance.lending.service import get_for_bank, notify_bank
from finance.lending.states import Actor, Event, fire
from products.models import ProductVersion

SHANGHAI = ZoneInfo("Asia/Shanghai")
BUCKETS = ((1, 30, "1-30"), (31, 60, "31-60"), (61, 90, "61-90"), (91, None, "90+"))
LOAN_CHANGED = "concurrent_loan_change"  # the 409 of a repayment or run that lost the loan


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(SHANGHAI).date()


def bucket(days_past_due: int) -> str:
    """The days-past-due bucket of a loan: ``current`` or 1-30 / 31-60 / 61-90 / 90+."""
    if days_past_due <= 0:
        return "current"
    if days_past_due >= DEFAULT_DAYS:
        return "90+"
    for low, high, name in BUCKETS:
        if low <= days_past_due <= (high or days_past_due):
            return name
    raise AssertionError(days_past_due)


@dataclass(frozen=True)
class Disbursement:
    contract_no: str
    amount_fen: int
    annual_rate_pct: Decimal
    term_months: int
    method: str
    fees_fen: int
    disbursed_on: dt.date


def disburse(
    session: Session,
    bank_id: int,
    application_id: int,
    form: Disbursement,
    actor: Actor,
    now: dt.datetime,
) -> Loan:
    """The bank disburses an accepted application: the loan, its schedule and its APR.
    The amount may not exceed the offer (or, without a priced offer, the amount asked);
    the term, method and rate must be the product version's."""
    application = get_for_bank(session, bank_id, application_id)
    version = session.get(ProductVersion, application.product_version_id)
    if version is None:
        raise NotFound("the application's product version is gone")
    offer = session.scalar(
        select(ApplicationDecision).where(ApplicationDecision.application_id == application.id)
    )
    ceiling = offer.amount_fen if offer is not None and offer.amount_fen else application.amount_fen
    errors = []
    if not 0 < form.amount_fen <= ceiling:
        errors.append({"pointer": "/amount_fen", "detail": f"at most the offer, {ceiling} fen"})
    if not version.min_term_months <= form.term_months <= version.max_term_months:
        errors.append({"pointer": "/term_months", "detail": "outside the product's terms"})
    if form.method not in version.repayment_methods:
        errors.append({"pointer": "/method", "detail": "not a method of the product"})
    if not version.rate_min_pct <= form.annual_rate_pct <= version.rate_max_pct:
        errors.append(
            {
                "pointer": "/annual_rate_pct",
                "detail": f"outside the product's {version.rate_min_pct}-{version.rate_max_pct}%",
            }
        )
    if not 0 <= form.fees_fen < form.amount_fen:
        errors.append({"pointer": "/fees_fen", "detail": "from 0 to less than the amount"})
    if not form.contract_no.strip():
        errors.append({"pointer": "/contract_no", "detail": "the contract number is required"})
    if errors:
        raise Invalid("the disbursement does not fit the offer or the product", errors=errors)
    fire(session, application, Event.DISBURSE, actor, now, f"contract {form.contract_no}")
    instalments = schedules.schedule(
        form.amount_fen,
        form.annual_rate_pct,
        form.term_months,
        schedules.RepaymentMethod(form.method),
        form.disbursed_on,
    )
    loan = Loan(
        application_id=application.id,
        uscc=application.uscc,
        bank_id=application.bank_id,
        product_id=application.product_id,
        amount_fen=form.amount_fen,
        term_months=form.term_months,
        rate_pct=form.annual_rate_pct,
        guarantee=version.guarantee,
        disbursed_on=form.disbursed_on,
        maturity_on=instalments[-1].due_on,
        status=LoanStatus.CURRENT.value,
        max_days_past_due=0,
        synthetic=False,
        created_at=now,
        contract_no=form.contract_no.strip(),
        method=form.method,
        fees_fen=form.fees_fen,
        apr_pct=schedules.apr(form.amount_fen, form.fees_fen, instalments),
        days_past_due=0,
    )
    session.add(loan)
    session.flush()
    session.add_all(
        Instalment(
            loan_id=loan.id,
            number=i.number,
            due_on=i.due_on,
            principal_fen=i.principal_fen,
            interest_fen=i.interest_fen,
            penalty_fen=0,
            paid_principal_fen=0,
            paid_interest_fen=0,
            paid_penalty_fen=0,
        )
        for i in instalments
    )
    session.flush()
    return loan


def instalments_of(session: Session, loan_id: int) -> list[Instalment]:
    return list(
        session.scalars(
            select(Instalment).where(Instalment.loan_id == loan_id).order_by(Instalment.number)
        )
    )


def claim(session: Session, loan: Loan) -> None:
    """Take the loan for this transaction before its figures change: bump its row version
    with a conditional UPDATE of the version it was read at, then re-read it. Of two
    transactions changing one loan (two repayments, a repayment and the daily run), the
    second changes no row (PostgreSQL makes it wait for the first to commit, SQLite's
    write lock serialises them) and gets a 409 ``concurrent_loan_change`` having written
    nothing, so it may run again on the loan as it now is (``record_repayment`` and
    ``age_loan`` do, once). Instalments read after the claim are the latest."""
    won = session.execute(
        update(Loan)
        .where(Loan.id == loan.id, Loan.version == loan.version)
        .values(version=Loan.version + 1)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(loan)
        raise Conflict(
            "the loan changed at the same moment (another repayment or the daily run); "
            "nothing was done: look at the loan again and retry",
            error=LOAN_CHANGED,
            loan_id=loan.id,
        )
    session.refresh(loan)


def repay(
    session: Session,
    loan: Loan,
    *,
    amount_fen: int,
    paid_on: dt.date,
    recorded_by: str,
    now: dt.datetime,
) -> Repayment:
    """Record a repayment allocated by ``accounting.allocate`` (penalties, then interest
    due, then principal due, oldest first; the rest repays principal early). Paying
    everything owed settles the loan."""
    claim(session, loan)
    instalments = instalments_of(session, loan.id)
    parts = accounting.allocate(loan, instalments, amount_fen, paid_on)
    repayment = Repayment(
        loan_id=loan.id,
        paid_on=paid_on,
        amount_fen=amount_fen,
        penalty_fen=parts.penalty_fen,
        interest_fen=parts.interest_fen,
        principal_fen=parts.principal_fen,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(repayment)
    session.flush()
    return repayment


def record_repayment(
    session: Session,
    scope: Any,
    loan_id: int,
    *,
    amount_fen: int,
    paid_on: dt.date,
    recorded_by: str,
    now: dt.datetime,
) -> Repayment:
    """A repayment of loan ``loan_id`` of ``scope`` (``loans_for_bank``), read and
    recorded by ``repay``. One that loses the race for the loan (``claim``: another
    repayment or the daily run changed it after it was read) is read and recorded once
    more on the loan as it now is; a second loss is the 409 ``concurrent_loan_change``."""

    def attempt() -> Repayment:
        loan = get_loan(session, scope, loan_id)
        return repay(
            session,
            loan,
            amount_fen=amount_fen,
            paid_on=paid_on,
            recorded_by=recorded_by,
            now=now,
        )

    return retry_once(session, attempt, on={LOAN_CHANGED})


def open_loans(session: Session) -> list[int]:
    """The open loans made here, by id: those the daily run ages."""
    return list(
        session.scalars(
            select(Loan.id)
            .where(
                Loan.synthetic.is_(False),
                Loan.status != LoanStatus.SETTLED.value,
                Loan.application_id.is_not(None),
            )
            .order_by(Loan.id)
        )
    )


def age_loan(session: Session, loan_id: int, day: dt.date, now: dt.datetime) -> bool:
    """The daily run on one open loan, a unit of work of its own (the task commits it
    before the next loan, so the run holds one loan at a time): penalties accrued and
    days past due set as of ``day``; a loan that falls overdue raises ``loan.overdue`` to
    its bank in the same transaction. After a repayment that claimed the loan first it
    runs once more on the loan as it now is, and passes by a loan that repayment
    settled. Running it again for the same day changes nothing. True when the loan's
    status or days past due changed."""
    return retry_once(session, lambda: _age(session, loan_id, day, now), on={LOAN_CHANGED})


def _age(session: Session, loan_id: int, day: dt.date, now: dt.datetime) -> bool:
    loan = session.get(Loan, loan_id)
    if loan is None or loan.status == LoanStatus.SETTLED.value:
        return False
    claim(session, loan)
    instalments = instalments_of(session, loan.id)
    before = (loan.status, loan.days_past_due)
    if accounting.age(loan, instalments, day):
        _overdue_event(session, loan, now)
    session.flush()
    return (loan.status, loan.days_past_due) != before


def _overdue_event(session: Session, loan: Loan, now: dt.datetime) -> None:
    application = session.get(LoanApplication, loan.application_id)
    if application is None:
        return
    notify_bank(
        session,
        application,
        "loan.overdue",
        {
            "loan_id": loan.id,
            "application_id": application.id,
            "contract_no": loan.contract_no,
            "uscc": loan.uscc,
            "days_past_due": loan.days_past_due,
            "at": now.isoformat(),
        },
        now,
    )


def schedule_view(instalments: list[Instalment], day: dt.date) -> list[dict[str, Any]]:
    """Each instalment with what was due, what is paid and whether it is overdue."""
    rows = []
    for i in instalments:
        if accounting.is_settled(i):
            state = "paid"
        elif i.due_on < day:
            state = "overdue"
        elif i.due_on == day:
            state = "due"
        else:
            state = "upcoming"
        rows.append(
            {
                "number": i.number,
                "due_on": i.due_on,
                "principal_fen": i.principal_fen,
                "interest_fen": i.interest_fen,
                "penalty_fen": i.penalty_fen,
                "paid_principal_fen": i.paid_principal_fen,
                "paid_interest_fen": i.paid_interest_fen,
                "paid_penalty_fen": i.paid_penalty_fen,
                "outstanding_fen": accounting.unpaid_due(i) + i.penalty_fen - i.paid_penalty_fen,
                "state": state,
                "days_overdue": (day - i.due_on).days if state == "overdue" else 0,
                "settled_on": i.settled_on,
            }
        )
    return rows


def loans_for_bank(bank_id: int) -> Any:
    return select(Loan).where(Loan.bank_id == bank_id, Loan.synthetic.is_(False))


def loans_for_enterprise(uscc: str) -> Any:
    return select(Loan).where(Loan.uscc == uscc, Loan.synthetic.is_(False))


def with_instalments(
    session: Session, query: Any, *, newest_first: bool = False
) -> list[tuple[Loan, list[Instalment]]]:
    """The loans ``query`` selects (with its filters and limit), each with its instalments,
    read in one statement so a loan's figures and its schedule come from one snapshot: read
    one after the other, a repayment committed in between would show a loan's old status
    beside its new payments (each statement sees the latest commit, on SQLite and on
    PostgreSQL's read committed alike). In order of id (``newest_first``: descending)."""
    page = query.subquery()
    order = Loan.id.desc() if newest_first else Loan.id
    rows = session.execute(
        select(Loan, Instalment)
        .join(page, page.c.id == Loan.id)
        .outerjoin(Instalment, Instalment.loan_id == Loan.id)
        .order_by(order, Instalment.number)
        .execution_options(populate_existing=True)
    ).all()
    loans: dict[int, tuple[Loan, list[Instalment]]] = {}
    for loan, instalment in rows:
        _, instalments = loans.setdefault(loan.id, (loan, []))
        if instalment is not None:
            instalments.append(instalment)
    return list(loans.values())


def get_loan_with_instalments(
    session: Session, query: Any, loan_id: int
) -> tuple[Loan, list[Instalment]]:
    found = with_instalments(session, query.where(Loan.id == loan_id))
    if not found:
        raise NotFound("no such loan", loan_id=loan_id)
    return found[0]


def get_loan(session: Session, query: Any, loan_id: int) -> Loan:
    loan = session.scalar(query.where(Loan.id == loan_id))
    if loan is None:
        raise NotFound("no such loan", loan_id=loan_id)
    assert isinstance(loan, Loan)
    return loan
