"""Repayment schedules in integer fen and the APR of a loan's cash flows.

Four methods (``RepaymentMethod``). Interest accrues monthly at the annual rate / 12 on
the balance outstanding, rounded half-up to the fen each month; the rounding remainder
of the principal goes on the last instalment, so the principal repaid is exactly the
principal lent.

APR (``apr``): the internal rate of return of the borrower's cash flows (the principal
less the one-off fees received at the start, each instalment paid at the end of its
month), annualised as the nominal annual rate of the monthly IRR (monthly IRR x 12). This
is the compound (IRR) method of the annex to PBOC announcement 〔2021〕 No. 3, whose
worked example annualises a monthly IRR by multiplying it by 12; so a loan with no fees
repaid in equal instalments has an APR equal to its nominal annual rate, and fees raise
it. (The effective annual rate (1 + i)^12 - 1 would be higher; we do not show it.)
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from finance.core.errors import Invalid

MAX_TERM_MONTHS = 360
HUNDRED = Decimal(100)
TWELVE = Decimal(12)


class RepaymentMethod(enum.StrEnum):
    EQUAL_INSTALMENT = "equal_instalment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY = "interest_only"  # 先息后本
    BULLET = "bullet"  # 到期一次还本付息


METHOD_WORDS: dict[RepaymentMethod, tuple[str, str]] = {
    RepaymentMethod.EQUAL_INSTALMENT: ("等额本息", "equal instalments"),
    RepaymentMethod.EQUAL_PRINCIPAL: ("等额本金", "equal principal"),
    RepaymentMethod.INTEREST_ONLY: ("先息后本", "interest monthly, principal at the end"),
    RepaymentMethod.BULLET: ("到期一次还本付息", "principal and interest at maturity"),
}


@dataclass(frozen=True, slots=True)
class Instalment:
    number: int  # 1-based
    month: int  # months after disbursement when it falls due
    due_on: dt.date
    principal_fen: int
    interest_fen: int
    balance_after_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clipped to the end of a shorter month."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    if day.day <= 28:
        return dt.date(year, month, day.day)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _fen(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def schedule(
    principal_fen: int,
    annual_rate_pct: Decimal,
    term_months: int,
    method: RepaymentMethod,
    start: dt.date,
) -> list[Instalment]:
    """The instalments of a loan of ``principal_fen`` at ``annual_rate_pct`` (percent, e.g.
    ``Decimal("4.35")``) over ``term_months``, disbursed on ``start``; instalment k falls
    due k months after ``start`` (a bullet loan has one, at maturity)."""
    if principal_fen <= 0:
        raise Invalid("the principal must be positive")
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise Invalid(f"the term must be 1 to {MAX_TERM_MONTHS} months")
    if not annual_rate_pct.is_finite() or not Decimal(0) <= annual_rate_pct <= HUNDRED:
        raise Invalid("the annual rate must be between 0% and 100%")
    method = RepaymentMethod(method)
    # The monthly rate as an exact fraction: each month's interest is rounded half-up from
    # its exact value, in integers (no Decimal context to depend on, and fast).
    numerator, denominator = annual_rate_pct.as_integer_ratio()
    denominator *= 1200

    def interest_on(amount: int, months: int = 1) -> int:
        return (2 * amount * numerator * months + denominator) // (2 * denominator)

    if method is RepaymentMethod.BULLET:
        interest = interest_on(principal_fen, term_months)
        return [
            Instalment(1, term_months, add_months(start, term_months), principal_fen, interest, 0)
        ]

    payment = 0
    if method is RepaymentMethod.EQUAL_INSTALMENT:
        with localcontext() as context:
            context.prec = 40
            monthly = annual_rate_pct / HUNDRED / TWELVE
            if monthly == 0:
                payment = _fen(Decimal(principal_fen) / term_months)
            else:
                growth = (1 + monthly) ** term_months
                payment = _fen(Decimal(principal_fen) * monthly * growth / (growth - 1))
    part = principal_fen // term_months

    instalments = []
    balance = principal_fen
    for number in range(1, term_months + 1):
        interest = interest_on(balance)
        if number == term_months:
            principal = balance
        elif method is RepaymentMethod.EQUAL_INSTALMENT:
            principal = min(max(payment - interest, 0), balance)
        elif method is RepaymentMethod.EQUAL_PRINCIPAL:
            principal = part
        else:
            principal = 0
        balance -= principal
        instalments.append(
            Instalment(number, number, add_months(start, number), principal, interest, balance)
        )
    return instalments


def apr(principal_fen: int, fees_fen: int, instalments: Sequence[Instalment]) -> Decimal:
    """The APR in percent (4 decimals) of a loan whose borrower receives ``principal_fen``
    less ``fees_fen`` at disbursement and pays each instalment ``month`` months later:
    12 x the monthly IRR."""
    if not instalments:
        raise Invalid("a loan has at least one instalment")
    received = principal_fen - fees_fen
    if received <= 0 or fees_fen < 0:
        raise Invalid("the fees must be at least zero and less than the principal")
    flows = [(i.month, i.total_fen) for i in instalments]
    if any(month < 1 for month, _ in flows):
        raise Invalid("every instalment falls due after disbursement")
    return Decimal(repr(round(_irr(received, flows) * 12 * 100, 4))).quantize(Decimal("0.0001"))


def _irr(received: int, flows: list[tuple[int, int]]) -> float:
    """Monthly rate ``i`` with ``sum(amount / (1 + i) ** month) == received``. The present
    value falls as ``i`` rises (every flow is a payment), so there is one root: Newton's
    method from the simple-interest guess, kept inside a bracket that bisection narrows
    whenever a Newton step would leave it."""
    paid = sum(amount for _, amount in flows)

    def npv_and_slope(rate: float) -> tuple[float, float]:
        value, slope = -float(received), 0.0
        for month, amount in flows:
            discounted = amount / (1.0 + rate) ** month
            value += discounted
            slope -= month * discounted / (1.0 + rate)
        return value, slope

    low, high = (-0.99, 0.0) if paid <= received else (0.0, 0.01)
    while paid > received and npv_and_slope(high)[0] > 0:
        low, high = high, high * 2
        if high > 1e6:
            raise Invalid("the cash flows have no sensible rate")
    mean_month = sum(month * amount for month, amount in flows) / max(paid, 1)
    rate = min(max((paid - received) / received / max(mean_month, 1.0), low), high)
    for _ in range(100):
        value, slope = npv_and_slope(rate)
        if value > 0:
            low = rate
        else:
            high = rate
        step = rate - value / slope if slope < 0 else (low + high) / 2
        if not low < step < high:
            step = (low + high) / 2
        if abs(step - rate) < 1e-15 or high - low < 1e-15:
            rate = step
            break
        rate = step
    assert math.isfinite(rate)
    return rate


@dataclass(frozen=True, slots=True)
class Priced:
    """A loan's whole schedule with its APR and total interest."""

    instalments: tuple[Instalment, ...]
    apr_pct: Decimal
    total_interest_fen: int


@functools.lru_cache(maxsize=4096)
def priced(
    principal_fen: int,
    annual_rate_pct: Decimal,
    term_months: int,
    method: RepaymentMethod,
    start: dt.date,
    fees_fen: int,
) -> Priced:
    """``schedule`` and ``apr`` of one offer. A pure function of its terms, cached: matching
    prices an offer for every eligible product, and for one enterprise on one day the
    products of a catalogue share their terms often (the amount asked, capped alike; the
    standard rates; no fees), so each set of terms is priced once."""
    instalments = tuple(schedule(principal_fen, annual_rate_pct, term_months, method, start))
    return Priced(
        instalments,
        apr(principal_fen, fees_fen, instalments),
        sum(i.interest_fen for i in instalments),
    )
