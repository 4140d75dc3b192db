"""Repayment schedules in fen and the APR: property tests over random loans."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from finance.core.errors import Invalid
from finance.lending.schedule import RepaymentMethod, add_months, apr, schedule

START = dt.date(2026, 1, 31)
principals = st.integers(min_value=100_000, max_value=10**10)  # 1,000 yuan to 100 million
terms = st.integers(min_value=1, max_value=120)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("24"), places=3)
methods = st.sampled_from(list(RepaymentMethod))


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=rates, term=terms, method=methods)
def test_a_schedule_repays_the_principal_exactly_with_its_interest(
    principal: int, rate: Decimal, term: int, method: RepaymentMethod
) -> None:
    instalments = schedule(principal, rate, term, method, START)
    assert all(isinstance(i.principal_fen, int) for i in instalments)
    assert sum(i.principal_fen for i in instalments) == principal
    interest = sum(i.interest_fen for i in instalments)
    assert sum(i.total_fen for i in instalments) == principal + interest
    assert all(i.principal_fen >= 0 and i.interest_fen >= 0 for i in instalments)
    assert instalments[-1].balance_after_fen == 0
    assert instalments[-1].due_on == add_months(START, term)

    # Interest against the closed form of each method (each month rounds by at most half
    # a fen; equal instalments also round the payment).
    r = float(rate) / 1200
    if method is RepaymentMethod.EQUAL_INSTALMENT:
        payment = principal / term if r == 0 else principal * r / (1 - (1 + r) ** -term)
        exact = payment * term - principal
        totals = [i.total_fen for i in instalments[:-1]]
        assert len(set(totals)) <= 1  # equal instalments, the last takes the remainder
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        # Parts of principal // term, the remainder last: interest on each balance.
        part = principal // term
        exact = r * sum(principal - part * k for k in range(term))
        assert {i.principal_fen for i in instalments[:-1]} <= {principal // term}
    else:
        exact = principal * r * term
        assert [i.principal_fen for i in instalments[:-1]] == [0] * (len(instalments) - 1)
    assert abs(interest - exact) <= term + 1


def test_equal_instalment_example() -> None:
    # 120,000 yuan, 12 months at 6%: the monthly payment of the annuity formula.
    instalments = schedule(12_000_000, Decimal("6"), 12, RepaymentMethod.EQUAL_INSTALMENT, START)
    assert instalments[0].total_fen == 1_032_797
    assert instalments[0].interest_fen == 60_000
    assert instalments[1].due_on == dt.date(2026, 3, 31)
    assert instalments[0].due_on == dt.date(2026, 2, 28)


def independent_irr(received: int, flows: list[tuple[int, int]]) -> float:
    """The monthly IRR by scipy's Brent root finder on the NPV (numpy arrays)."""
    months = np.array([m for m, _ in flows], dtype=float)
    amounts = np.array([a for _, a in flows], dtype=float)

    def npv(rate: float) -> float:
        return float((amounts / (1 + rate) ** months).sum() - received)

    return float(brentq(npv, -0.5, 10.0, xtol=1e-14))


@settings(max_examples=200, deadline=None)
@given(
    principal=principals,
    rate=st.decimals(min_value=Decimal("1"), max_value=Decimal("24"), places=2),
    term=st.integers(min_value=1, max_value=60),
    method=methods,
    fee_permille=st.integers(min_value=0, max_value=100),
)
def test_apr_agrees_with_an_independent_irr(
    principal: int, rate: Decimal, term: int, method: RepaymentMethod, fee_permille: int
) -> None:
    fees = principal * fee_permille // 1000
    instalments = schedule(principal, rate, term, method, START)
    expected = independent_irr(principal - fees, [(i.month, i.total_fen) for i in instalments])
    assert abs(float(apr(principal, fees, instalments)) - expected * 1200) < 0.0002


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates, term=terms)
def test_equal_instalments_without_fees_have_the_nominal_rate_and_fees_raise_it(
    principal: int, rate: Decimal, term: int
) -> None:
    instalments = schedule(principal, rate, term, RepaymentMethod.EQUAL_INSTALMENT, START)
    nominal = apr(principal, 0, instalments)
    # The payment is rounded to the fen: at most a hundredth of a percentage point.
    assert abs(nominal - rate) <= Decimal("0.01")
    assert apr(principal, max(principal // 200, 1), instalments) > nominal


def test_fees_raise_the_apr_of_every_method() -> None:
    for method in RepaymentMethod:
        instalments = schedule(10_000_000, Decimal("5"), 12, method, START)
        assert apr(10_000_000, 100_000, instalments) > apr(10_000_000, 0, instalments)


@pytest.mark.parametrize(
    ("principal", "rate", "term"),
    [
        (0, Decimal(5), 12),
        (100, Decimal(-1), 12),
        (100, Decimal(5), 0),
        (100, Decimal(5), 361),
        (100, Decimal("NaN"), 12),
    ],
)
def test_bad_loans_are_refused(principal: int, rate: Decimal, term: int) -> None:
    with pytest.raises(Invalid):
        schedule(principal, rate, term, RepaymentMethod.BULLET, START)


def test_apr_refuses_fees_eating_the_principal() -> None:
    instalments = schedule(100_000, Decimal(5), 12, RepaymentMethod.BULLET, START)
    with pytest.raises(Invalid):
        apr(100_000, 100_000, instalments)
    with pytest.raises(Invalid):
        apr(100_000, 0, [])
