"""The loan book: disbursement (the loan and its schedule, in integer fen), repayments
(allocated to penalty, then interest, then principal; partial, full and early), the
schedule as due / paid / overdue, and days past due (current / overdue / defaulted at
90+ / settled, buckets 1-30, 31-60, 61-90, 90+).

Loans made here are the credit model's labels as the synthetic ones are: ``loans``
keeps ``defaulted_on`` (the first day 90+ days past due), ``settled_on`` and
``max_days_past_due``.

Penalty interest (罚息) accrues on each overdue instalment's unpaid principal and
interest at the contract rate plus ``PENALTY_MARKUP`` (50%, the usual contract term),
per day on a 360-day year, from the day after the due date. A partial early repayment
of principal shortens the term (the last instalments first) and the interest of the
instalments still to come is recomputed on the lower balance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from finance.core.errors import Conflict, Invalid, NotFound
from finance.lending import schedule as schedules
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
PENALTY_MARKUP = Decimal("1.5")
DEFAULT_DAYS = 90
BUCKETS = ((1, 30, "1-30"), (31, 60, "31-60"), (61, 90, "61-90"), (91, None, "90+"))


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


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


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


def _unpaid_due(instalment: Instalment) -> int:
    return (
        instalment.principal_fen
        - instalment.paid_principal_fen
        + instalment.interest_fen
        - instalment.paid_interest_fen
    )


def _accrue_penalties(loan: Loan, instalments: list[Instalment], day: dt.date) -> None:
    """Penalty interest on each overdue instalment's unpaid principal and interest, up
    to ``day`` (exclusive), from where the last accrual stopped."""
    daily = loan.rate_pct * PENALTY_MARKUP / Decimal(100) / Decimal(360)
    for instalment in instalments:
        start = instalment.penalty_to or instalment.due_on + dt.timedelta(days=1)
        unpaid = _unpaid_due(instalment)
        if unpaid > 0 and day > start:
            instalment.penalty_fen += _round(Decimal(unpaid) * daily * (day - start).days)
        if day > start:
            instalment.penalty_to = day


def _outstanding_principal(instalments: list[Instalment]) -> int:
    return sum(i.principal_fen - i.paid_principal_fen for i in instalments)


def owed(loan: Loan, instalments: list[Instalment], day: dt.date) -> dict[str, int]:
    """What settles the loan on ``day``: penalties, interest due by then, all principal."""
    return {
        "penalty_fen": sum(i.penalty_fen - i.paid_penalty_fen for i in instalments),
        "interest_fen": sum(
            i.interest_fen - i.paid_interest_fen for i in instalments if i.due_on <= day
        ),
        "principal_fen": _outstanding_principal(instalments),
    }


def repay(
    session: Session,
    loan: Loan,
    *,
    amount_fen: int,
    paid_on: dt.date,
    recorded_by: str,
    now: dt.datetime,
) -> Repayment:
    """Allocate a repayment: penalties, then interest due, then principal due, oldest
    first; what is left repays principal early (the last instalments first), and the
    interest still to come is recomputed on the lower balance. Paying everything owed
    settles the loan."""
    if loan.status == LoanStatus.SETTLED.value:
        raise Conflict("the loan is settled", error="loan_settled")
    if amount_fen <= 0:
        raise Invalid("a repayment is a positive amount of fen")
    if paid_on < loan.disbursed_on:
        raise Invalid("a repayment cannot precede the disbursement")
    instalments = instalments_of(session, loan.id)
    _accrue_penalties(loan, instalments, paid_on)
    total = sum(owed(loan, instalments, paid_on).values())
    if amount_fen > total:
        raise Invalid(f"the repayment exceeds what settles the loan ({total} fen)", owed_fen=total)
    left = amount_fen
    parts = {"penalty": 0, "interest": 0, "principal": 0}

    def take(instalment: Instalment, part: str, limit: int) -> None:
        nonlocal left
        paid = min(left, limit)
        if paid > 0:
            setattr(instalment, f"paid_{part}_fen", getattr(instalment, f"paid_{part}_fen") + paid)
            parts[part] += paid
            left -= paid

    for instalment in instalments:
        take(instalment, "penalty", instalment.penalty_fen - instalment.paid_penalty_fen)
    due = [i for i in instalments if i.due_on <= paid_on]
    for instalment in due:
        take(instalment, "interest", instalment.interest_fen - instalment.paid_interest_fen)
    for instalment in due:
        take(instalment, "principal", instalment.principal_fen - instalment.paid_principal_fen)
    future = [i for i in instalments if i.due_on > paid_on]
    for instalment in reversed(future):  # early repayment: shorten the term
        take(instalment, "principal", instalment.principal_fen - instalment.paid_principal_fen)
    if parts["principal"] and future:
        _reprice(loan, future)
    assert left == 0
    if _outstanding_principal(instalments) == 0:
        # Settled early: the interest of the months to come is not owed (``owed``).
        for instalment in future:
            instalment.interest_fen = instalment.paid_interest_fen
    for instalment in instalments:
        if instalment.settled_on is None and _settled(instalment):
            instalment.settled_on = paid_on
    repayment = Repayment(
        loan_id=loan.id,
        paid_on=paid_on,
        amount_fen=amount_fen,
        penalty_fen=parts["penalty"],
        interest_fen=parts["interest"],
        principal_fen=parts["principal"],
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(repayment)
    if _outstanding_principal(instalments) == 0 and all(_settled(i) for i in instalments):
        loan.status = LoanStatus.SETTLED.value
        loan.settled_on = paid_on
        loan.days_past_due = 0
    else:
        _set_days_past_due(session, loan, instalments, paid_on)
    session.flush()
    return repayment


def _settled(instalment: Instalment) -> bool:
    return (
        instalment.paid_principal_fen >= instalment.principal_fen
        and instalment.paid_interest_fen >= instalment.interest_fen
        and instalment.paid_penalty_fen >= instalment.penalty_fen
    )


def _reprice(loan: Loan, future: list[Instalment]) -> None:
    """Interest of the instalments to come on the balance left after an early
    repayment: each month's interest on the principal still owed at its start. The
    current period's interest (the first instalment to come) stays as scheduled."""
    monthly = loan.rate_pct / Decimal(100) / Decimal(12)
    for index in range(1, len(future)):
        balance = sum(i.principal_fen - i.paid_principal_fen for i in future[index:])
        instalment = future[index]
        instalment.interest_fen = max(
            instalment.paid_interest_fen, _round(Decimal(balance) * monthly)
        )


def days_past_due(instalments: list[Instalment], day: dt.date) -> int:
    """Days since the oldest instalment due before ``day`` that is not fully paid
    (principal and interest)."""
    overdue = [i.due_on for i in instalments if i.due_on < day and _unpaid_due(i) > 0]
    return (day - min(overdue)).days if overdue else 0


def _set_days_past_due(
    session: Session, loan: Loan, instalments: list[Instalment], day: dt.date
) -> bool:
    """Days past due and status as of ``day``; True when the loan just became overdue."""
    dpd = days_past_due(instalments, day)
    was = loan.status
    loan.days_past_due = dpd
    loan.dpd_as_of = day
    loan.max_days_past_due = max(loan.max_days_past_due, dpd)
    if dpd >= DEFAULT_DAYS:
        loan.status = LoanStatus.DEFAULTED.value
        if loan.defaulted_on is None:
            oldest = day - dt.timedelta(days=dpd)
            loan.defaulted_on = oldest + dt.timedelta(days=DEFAULT_DAYS)
    elif dpd > 0:
        loan.status = LoanStatus.OVERDUE.value
    else:
        loan.status = LoanStatus.CURRENT.value
    return was == LoanStatus.CURRENT.value and dpd > 0


def update_days_past_due(session: Session, day: dt.date, now: dt.datetime) -> int:
    """The daily run: penalties accrued and days past due set on every open loan made
    here as of ``day``; a loan that falls overdue raises ``loan.overdue`` to its bank.
    Re-running for the same day changes nothing. Returns the loans whose figures changed."""
    loans = session.scalars(
        select(Loan).where(
            Loan.synthetic.is_(False),
            Loan.status != LoanStatus.SETTLED.value,
            Loan.application_id.is_not(None),
        )
    ).all()
    changed = 0
    for loan in loans:
        instalments = instalments_of(session, loan.id)
        before = (loan.status, loan.days_past_due)
        _accrue_penalties(loan, instalments, day)
        if _set_days_past_due(session, loan, instalments, day):
            _overdue_event(session, loan, now)
        changed += (loan.status, loan.days_past_due) != before
    session.flush()
    return changed


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
        if _settled(i):
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
                "outstanding_fen": _unpaid_due(i) + i.penalty_fen - i.paid_penalty_fen,
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


def get_loan(session: Session, query: Any, loan_id: int) -> Loan:
    loan = session.scalar(query.where(Loan.id == loan_id))
    if loan is None:
        raise NotFound("no such loan", loan_id=loan_id)
    assert isinstance(loan, Loan)
    return loan
