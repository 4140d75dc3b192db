"""Each synthetic loan's schedule, its borrower's repayments up to the end of the window
and what the loan book's rules then say of it (status, days past due, default, settlement).

The schedule and APR are ``finance.lending.schedule``'s and every repayment is allocated,
and every loan aged, by ``finance.lending.accounting``: the functions the real loan book
runs. Only the borrower's behaviour is drawn (in ``finance.synth.lending``):

* a borrower pays what is due on each due date (``accounting.amount_due``), one instalment
  of some loans a few days late (with its penalty interest);
* a borrower drawn to default pays on time until its first missed instalment, then
  nothing: the loan is defaulted 90 days after that instalment fell due, which is inside
  the 12 months after disbursement (the credit model's label);
* an early settler pays what ``accounting.owed`` shows on its settlement day.

The book's daily run is applied on every payment day before the payment and on the last
day of the window, so days past due, the maximum, ``defaulted_on`` and ``settled_on`` are
the book's own as of that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from finance.core.dates import add_months
from finance.lending import accounting
from finance.lending import schedule as schedules
from finance.lending.accounting import DEFAULT_DAYS, InstalmentFigures, LoanFigures
from finance.lending.models import LoanStatus

OUTCOME_MONTHS = 12  # the credit model's label: defaulted within 12 months of disbursement
_DEFAULT_DELAY = dt.timedelta(days=DEFAULT_DAYS)


@dataclass(frozen=True)
class Borrower:
    """What was drawn for one loan: its terms and how its borrower pays."""

    amount_fen: int
    rate_pct: Decimal
    term_months: int
    method: str
    fees_fen: int
    disbursed_on: dt.date
    default_by: dt.date | None  # defaults, at the latest on this day (at least 90 days on)
    late_share: float | None  # which instalment (as a share of them) is paid late
    late_days: int
    settle_on: dt.date | None  # settles early on this day


@dataclass(frozen=True)
class Serviced:
    """The loans in order: per loan its schedule's maturity and APR and its figures as of
    the end; instalments and repayments with the position of their loan (``loan``)."""

    loans: pd.DataFrame
    instalments: pd.DataFrame
    repayments: pd.DataFrame
    schedules: list[list[schedules.Instalment]]


LOAN_COLUMNS = (
    "maturity_on",
    "apr_pct",
    "status",
    "days_past_due",
    "dpd_as_of",
    "max_days_past_due",
    "defaulted_on",
    "settled_on",
)
INSTALMENT_COLUMNS = (
    "loan",
    "number",
    "due_on",
    "principal_fen",
    "interest_fen",
    "penalty_fen",
    "paid_principal_fen",
    "paid_interest_fen",
    "paid_penalty_fen",
    "penalty_to",
    "settled_on",
)
REPAYMENT_COLUMNS = (
    "loan",
    "paid_on",
    "amount_fen",
    "penalty_fen",
    "interest_fen",
    "principal_fen",
)


def defaults_in_time(method: str, term_months: int) -> bool:
    """Whether a loan of this method and term can reach 90 days past due within 12 months
    of disbursement: every method but a bullet loan has an instalment a month in; a bullet
    loan's only instalment falls due at maturity, so only up to 6 months."""
    return method != schedules.RepaymentMethod.BULLET.value or term_months <= 6


def first_missed(plan: Sequence[schedules.Instalment], borrower: Borrower) -> int:
    """The number of the first instalment a defaulting borrower does not pay: the last one
    due at least 90 days before its drawn default day whose default still falls inside
    the 12 months, else the first."""
    assert borrower.default_by is not None
    horizon = add_months(borrower.disbursed_on, OUTCOME_MONTHS)
    inside = [i for i in plan if i.due_on + _DEFAULT_DELAY < horizon]
    if not inside:
        raise ValueError(
            f"a {borrower.method} loan of {borrower.term_months} months cannot "
            "default within 12 months"
        )
    chosen = [i.number for i in inside if i.due_on + _DEFAULT_DELAY <= borrower.default_by]
    return max(chosen, default=inside[0].number)


def _pay(
    loan: LoanFigures, instalments: list[InstalmentFigures], day: dt.date, settle: bool
) -> accounting.Allocation | None:
    """The book's daily run on ``day``, then the borrower's payment of what is due (or,
    settling, of everything owed), allocated by ``accounting.allocate``; None when
    nothing is due."""
    open_ = [i for i in instalments if i.settled_on is None]
    if not open_:
        return None
    if open_[0].due_on < day:  # else nothing is overdue: the daily run changes nothing
        accounting.age(loan, open_, day)
    amount = (
        sum(accounting.owed(loan, open_, day).values())
        if settle
        else accounting.amount_due(open_, day)
    )
    if amount <= 0:
        return None
    return accounting.allocate(loan, open_, amount, day)


def service(borrowers: Sequence[Borrower], end: dt.date) -> Serviced:
    """Schedule, repay and age each loan as of ``end``: every payment allocated by
    ``accounting.allocate``, the loan book's own rule."""
    loans: list[tuple[Any, ...]] = []
    instalment_rows: list[tuple[Any, ...]] = []
    repayment_rows: list[tuple[Any, ...]] = []
    plans: list[list[schedules.Instalment]] = []
    for position, borrower in enumerate(borrowers):
        plan = schedules.schedule(
            borrower.amount_fen,
            borrower.rate_pct,
            borrower.term_months,
            schedules.RepaymentMethod(borrower.method),
            borrower.disbursed_on,
        )
        plans.append(plan)
        stop = len(plan) + 1 if borrower.default_by is None else first_missed(plan, borrower)
        days = [i.due_on for i in plan if i.number < stop]
        if borrower.late_share is not None and days:
            late = int(borrower.late_share * len(days))
            days[late] += dt.timedelta(days=borrower.late_days)
        settle_on = borrower.settle_on if borrower.default_by is None else None
        if settle_on is not None:
            days = [day for day in days if day < settle_on] + [settle_on]
        loan = LoanFigures(rate_pct=borrower.rate_pct, disbursed_on=borrower.disbursed_on)
        instalments = [
            InstalmentFigures(i.number, i.due_on, i.principal_fen, i.interest_fen) for i in plan
        ]
        for day in sorted(days):
            if day > end or loan.status == LoanStatus.SETTLED.value:
                break
            parts = _pay(loan, instalments, day, settle=day == settle_on)
            if parts is not None:
                repayment_rows.append(
                    (
                        position,
                        day,
                        parts.penalty_fen + parts.interest_fen + parts.principal_fen,
                        parts.penalty_fen,
                        parts.interest_fen,
                        parts.principal_fen,
                    )
                )
        if loan.status != LoanStatus.SETTLED.value:
            accounting.age(loan, [i for i in instalments if i.settled_on is None], end)
        loans.append(
            (
                plan[-1].due_on,
                schedules.apr(borrower.amount_fen, borrower.fees_fen, plan),
                loan.status,
                loan.days_past_due,
                loan.dpd_as_of,
                loan.max_days_past_due,
                loan.defaulted_on,
                loan.settled_on,
            )
        )
        instalment_rows += [
            (
                position,
                i.number,
                i.due_on,
                i.principal_fen,
                i.interest_fen,
                i.penalty_fen,
                i.paid_principal_fen,
                i.paid_interest_fen,
                i.paid_penalty_fen,
                i.penalty_to,
                i.settled_on,
            )
            for i in instalments
        ]
    return Serviced(
        pd.DataFrame.from_records(loans, columns=LOAN_COLUMNS),
        pd.DataFrame.from_records(instalment_rows, columns=INSTALMENT_COLUMNS),
        pd.DataFrame.from_records(repayment_rows, columns=REPAYMENT_COLUMNS),
        plans,
    )
