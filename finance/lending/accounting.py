"""The loan book's rules on a loan and its instalments held in memory, without a database
session: penalty interest, the allocation of a repayment, what is owed, days past due and
the loan's status. ``finance.lending.book`` applies them to stored rows; the synthetic
generator (``finance.synth.repayments``) applies them to the loans it simulates, so both
kinds of loan follow one set of rules.

Penalty interest (罚息) accrues on each overdue instalment's unpaid principal and
interest at the contract rate plus ``PENALTY_MARKUP`` (50%, the usual contract term),
per day on a 360-day year, from the day after the due date. A repayment pays penalties,
then interest due, then principal due, oldest first; what is left repays principal early
(the last instalments first, shortening the term) and the interest of the instalments
still to come is recomputed on the lower balance. A loan is defaulted from the first day
its oldest unpaid instalment is ``DEFAULT_DAYS`` (90) days past due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from finance.core.errors import Conflict, Invalid
from finance.lending.models import LoanStatus

PENALTY_MARKUP = Decimal("1.5")
DEFAULT_DAYS = 90


class LoanAccount(Protocol):
    """What the rules read and set on a loan (a ``Loan`` row or a ``LoanFigures``)."""

    rate_pct: Decimal
    disbursed_on: dt.date
    status: str
    days_past_due: int
    dpd_as_of: dt.date | None
    max_days_past_due: int
    defaulted_on: dt.date | None
    settled_on: dt.date | None


class InstalmentAccount(Protocol):
    """What the rules read and set on an instalment (an ``Instalment`` row or an
    ``InstalmentFigures``)."""

    due_on: dt.date
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    paid_principal_fen: int
    paid_interest_fen: int
    paid_penalty_fen: int
    penalty_to: dt.date | None
    settled_on: dt.date | None


@dataclass(slots=True)
class LoanFigures:
    """A loan's figures in memory, as the columns of ``loans`` of the same names."""

    rate_pct: Decimal
    disbursed_on: dt.date
    status: str = LoanStatus.CURRENT.value
    days_past_due: int = 0
    dpd_as_of: dt.date | None = None
    max_days_past_due: int = 0
    defaulted_on: dt.date | None = None
    settled_on: dt.date | None = None


@dataclass(slots=True)
class InstalmentFigures:
    """An instalment in memory, as the columns of ``loan_instalments`` of the same names."""

    number: int
    due_on: dt.date
    principal_fen: int
    interest_fen: int
    penalty_fen: int = 0
    paid_principal_fen: int = 0
    paid_interest_fen: int = 0
    paid_penalty_fen: int = 0
    penalty_to: dt.date | None = None
    settled_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment was allocated."""

    penalty_fen: int
    interest_fen: int
    principal_fen: int


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def unpaid_due(instalment: InstalmentAccount) -> int:
    """Principal and interest of the instalment not paid yet (penalties apart)."""
    return (
        instalment.principal_fen
        - instalment.paid_principal_fen
        + instalment.interest_fen
        - instalment.paid_interest_fen
    )


def is_settled(instalment: InstalmentAccount) -> bool:
    return (
        instalment.paid_principal_fen >= instalment.principal_fen
        and instalment.paid_interest_fen >= instalment.interest_fen
        and instalment.paid_penalty_fen >= instalment.penalty_fen
    )


def outstanding_principal(instalments: Sequence[InstalmentAccount]) -> int:
    return sum(i.principal_fen - i.paid_principal_fen for i in instalments)


def accrue_penalties(
    loan: LoanAccount, instalments: Sequence[InstalmentAccount], day: dt.date
) -> None:
    """Penalty interest on each overdue instalment's unpaid principal and interest, up
    to ``day`` (exclusive), from where the last accrual stopped."""
    daily = loan.rate_pct * PENALTY_MARKUP / Decimal(100) / Decimal(360)
    last_due = day - dt.timedelta(days=2)  # due later than this: nothing accrues yet
    for instalment in instalments:
        start = instalment.penalty_to
        if start is None:
            if instalment.due_on > last_due:
                continue
            start = instalment.due_on + dt.timedelta(days=1)
        if day > start:
            unpaid = unpaid_due(instalment)
            if unpaid > 0:
                instalment.penalty_fen += _round(Decimal(unpaid) * daily * (day - start).days)
            instalment.penalty_to = day


def owed(
    loan: LoanAccount, instalments: Sequence[InstalmentAccount], day: dt.date
) -> dict[str, int]:
    """What settles the loan on ``day``: penalties, interest due by then, all principal."""
    return {
        "penalty_fen": sum(i.penalty_fen - i.paid_penalty_fen for i in instalments),
        "interest_fen": sum(
            i.interest_fen - i.paid_interest_fen for i in instalments if i.due_on <= day
        ),
        "principal_fen": outstanding_principal(instalments),
    }


def amount_due(instalments: Sequence[InstalmentAccount], day: dt.date) -> int:
    """What brings the loan up to date on ``day`` (penalties accrued so far, and the unpaid
    principal and interest of every instalment due by then): what a borrower who keeps to
    the schedule pays."""
    return sum(i.penalty_fen - i.paid_penalty_fen for i in instalments) + sum(
        unpaid_due(i) for i in instalments if i.due_on <= day
    )


def allocate(
    loan: LoanAccount,
    instalments: Sequence[InstalmentAccount],
    amount_fen: int,
    paid_on: dt.date,
) -> Allocation:
    """Allocate a repayment (penalties accrued up to ``paid_on`` first): penalties, then
    interest due, then principal due, oldest first; what is left repays principal early
    (the last instalments first), and the interest still to come is recomputed on the
    lower balance. Paying everything owed settles the loan; otherwise its days past due
    and status are set as of ``paid_on``. ``instalments`` in order of number."""
    if loan.status == LoanStatus.SETTLED.value:
        raise Conflict("the loan is settled", error="loan_settled")
    if amount_fen <= 0:
        raise Invalid("a repayment is a positive amount of fen")
    if paid_on < loan.disbursed_on:
        raise Invalid("a repayment cannot precede the disbursement")
    accrue_penalties(loan, instalments, paid_on)
    total = sum(owed(loan, instalments, paid_on).values())
    if amount_fen > total:
        raise Invalid(f"the repayment exceeds what settles the loan ({total} fen)", owed_fen=total)
    left = amount_fen

    def take(part: str, order: Sequence[InstalmentAccount]) -> int:
        """Pay ``part`` (penalty, interest or principal) of each instalment in ``order``
        from what is left; returns how much went to it."""
        nonlocal left
        taken = 0
        owed_name, paid_name = f"{part}_fen", f"paid_{part}_fen"
        for instalment in order:
            already = getattr(instalment, paid_name)
            paid = min(left, getattr(instalment, owed_name) - already)
            if paid > 0:
                setattr(instalment, paid_name, already + paid)
                taken += paid
                left -= paid
        return taken

    due = [i for i in instalments if i.due_on <= paid_on]
    future = [i for i in instalments if i.due_on > paid_on]
    penalty = take("penalty", instalments)
    interest = take("interest", due)
    # Principal due, oldest first; then early repayment, the last instalments first.
    principal = take("principal", [*due, *reversed(future)])
    if principal and future:
        _reprice(loan, future)
    assert left == 0
    repaid = outstanding_principal(instalments) == 0
    if repaid:
        # Settled early: the interest of the months to come is not owed (``owed``).
        for instalment in future:
            instalment.interest_fen = instalment.paid_interest_fen
    for instalment in instalments:
        if instalment.settled_on is None and is_settled(instalment):
            instalment.settled_on = paid_on
    if repaid and all(is_settled(i) for i in instalments):
        loan.status = LoanStatus.SETTLED.value
        loan.settled_on = paid_on
        loan.days_past_due = 0
    else:
        set_days_past_due(loan, instalments, paid_on)
    return Allocation(penalty, interest, principal)


def _reprice(loan: LoanAccount, future: Sequence[InstalmentAccount]) -> None:
    """Interest of the instalments to come on the balance left after an early
    repayment: each month's interest on the principal still owed at its start. The
    current period's interest (the first instalment to come) stays as scheduled. Each
    month's interest is rounded half-up from its exact value, as ``schedule`` rounds it."""
    numerator, denominator = loan.rate_pct.as_integer_ratio()
    denominator *= 1200
    balance = 0
    for instalment in reversed(future[1:]):  # the balance at each one's start, from the end
        balance += instalment.principal_fen - instalment.paid_principal_fen
        exact_half_up = (2 * balance * numerator + denominator) // (2 * denominator)
        instalment.interest_fen = max(instalment.paid_interest_fen, exact_half_up)


def days_past_due(instalments: Sequence[InstalmentAccount], day: dt.date) -> int:
    """Days since the oldest instalment due before ``day`` that is not fully paid
    (principal and interest)."""
    overdue = [i.due_on for i in instalments if i.due_on < day and unpaid_due(i) > 0]
    return (day - min(overdue)).days if overdue else 0


def set_days_past_due(
    loan: LoanAccount, instalments: Sequence[InstalmentAccount], day: dt.date
) -> bool:
    """Days past due and status as of ``day`` (defaulted from the first day of 90 days
    past due, and ``defaulted_on`` that day, kept once set); True when the loan just
    became overdue."""
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


def age(loan: LoanAccount, instalments: Sequence[InstalmentAccount], day: dt.date) -> bool:
    """The daily run on one open loan: penalties accrued and days past due and status set
    as of ``day``. True when the loan just became overdue."""
    accrue_penalties(loan, instalments, day)
    return set_days_past_due(loan, instalments, day)
