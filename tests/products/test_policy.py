"""The decision policy: validated with pointers, cut-offs, the amount formula capped by
the product and the amount asked, the rate by band inside the product's range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from finance.core.errors import Invalid
from finance.lending.schedule import RepaymentMethod, apr, schedule
from products.facts import BY_NAME, Facts, FactValue
from products.policy import (
    Fee,
    ProductTerms,
    check_against_terms,
    clamp_term,
    decide,
    first_method,
    parse_policy,
)

AS_OF = dt.date(2026, 6, 15)
POLICY = {
    "approve_min_score": 650,
    "refer_min_score": 600,
    "amount": {
        "combine": "min",
        "terms": [
            {"fact": "tax_paid_12m", "times": "5"},
            {"fact": "annual_revenue", "times": "0.3"},
        ],
    },
    "rates": {"A": "3.65", "B": "4.2", "C": "5.5", "D": "9.9"},
}
TERMS = ProductTerms(
    min_amount_fen=10_000_000,
    max_amount_fen=300_000_000,
    min_term_months=6,
    max_term_months=36,
    rate_min_pct=Decimal("3.45"),
    rate_max_pct=Decimal("6"),
    methods=(RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.INTEREST_ONLY),
    fees=(Fee("percent", percent=Decimal("0.5")), Fee("fixed", amount_fen=20_000)),
)


@dataclass(frozen=True)
class Score:
    score: int
    band: str


def facts(**values: Any) -> Facts:
    return Facts(
        AS_OF, {name: FactValue(v, BY_NAME[name].source, AS_OF) for name, v in values.items()}
    )


RICH = facts(tax_paid_12m=20_000_000, annual_revenue=500_000_000)  # 100,000 / 150,000 yuan


def test_the_policy_round_trips_through_json() -> None:
    policy = parse_policy(POLICY)
    assert parse_policy(policy.to_json()) == policy
    assert policy.rates["B"] == Decimal("4.2")
    assert policy.round_down_fen == 10_000


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"approve_min_score": "650"}, "/policy/approve_min_score"),
        ({"refer_min_score": 1000}, "/policy/refer_min_score"),
        ({"amount": {"terms": [{"fact": "city", "times": "1"}]}}, "/policy/amount/terms/0/fact"),
        (
            {"amount": {"terms": [{"fact": "tax_paid_12m", "times": "x"}]}},
            "/policy/amount/terms/0/times",
        ),
        (
            {"amount": {"terms": [{"fact": "tax_paid_12m", "times": 0}]}},
            "/policy/amount/terms/0/times",
        ),
        ({"amount": {"terms": []}}, "/policy/amount/terms"),
        (
            {"amount": {"combine": "sum", "terms": [{"fact": "tax_paid_12m", "times": 1}]}},
            "/policy/amount/combine",
        ),
        ({"rates": {"Z": "4"}}, "/policy/rates"),
        ({"rates": {"A": "40"}}, "/policy/rates"),
        ({"rates": {}}, "/policy/rates"),
        ({"round_down_fen": 0}, "/policy/round_down_fen"),
        ({"colour": "red"}, "/policy/colour"),
        ({"refer_min_score": 700}, "/policy"),
    ],
)
def test_invalid_policies_are_refused_with_a_pointer(change: dict[str, Any], where: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_policy(POLICY | change)
    assert where in [e["pointer"] for e in refused.value.extensions["errors"]]


def test_a_policy_must_be_an_object_and_missing_fields_are_named() -> None:
    with pytest.raises(Invalid) as refused:
        parse_policy([], pointer="/p")
    assert refused.value.extensions["errors"] == [{"pointer": "/p", "detail": "must be an object"}]
    with pytest.raises(Invalid) as refused:
        parse_policy({"approve_min_score": 650})
    assert {e["pointer"] for e in refused.value.extensions["errors"]} == {
        "/policy/refer_min_score",
        "/policy/amount",
        "/policy/rates",
    }


def test_band_rates_outside_the_products_range_are_refused_against_its_terms() -> None:
    with pytest.raises(Invalid) as refused:
        check_against_terms(parse_policy(POLICY), TERMS)
    pointers = [e["pointer"] for e in refused.value.extensions["errors"]]
    assert pointers == ["/policy/rates/D"]
    check_against_terms(parse_policy(POLICY | {"rates": {"A": "3.45", "B": "6"}}), TERMS)


def run(score: int, band: str, asked: int = 250_000_000, data: Facts = RICH, **kw: Any) -> Any:
    return decide(
        parse_policy(POLICY | kw),
        data,
        Score(score, band),
        TERMS,
        amount_fen=asked,
        term_months=12,
        method=RepaymentMethod.EQUAL_INSTALMENT,
    )


def test_score_cut_offs_approve_refer_and_decline() -> None:
    assert run(650, "B").outcome == "approve"
    assert run(649, "C").outcome == "refer"
    assert run(600, "C").outcome == "refer"
    declined = run(599, "D")
    assert declined.outcome == "decline"
    assert declined.amount_fen is None
    assert declined.instalments == ()
    assert declined.reasons[0].code == "score_below_cutoff"
    assert "599" in declined.reasons[0].zh
    assert "599" in declined.reasons[0].en


def test_the_amount_is_the_formula_capped_by_the_product_and_the_amount_asked() -> None:
    # min(5 x 200,000, 0.3 x 5,000,000) = 1,000,000 yuan, under the 3,000,000 maximum.
    assert run(700, "A", asked=250_000_000).amount_fen == 100_000_000
    # The amount asked caps it, rounded down to 100 yuan.
    small = run(700, "A", asked=50_012_345)
    assert small.amount_fen == 50_010_000
    # max of the terms, capped by the product's maximum.
    big = run(700, "A", amount={"combine": "max", "terms": POLICY["amount"]["terms"]})
    assert big.amount_fen == 150_000_000
    capped = run(
        700, "A", asked=10**10, amount={"terms": [{"fact": "annual_revenue", "times": "10"}]}
    )
    assert capped.amount_fen == TERMS.max_amount_fen
    assert {r.code for r in capped.reasons} == {"amount_reduced"}


def test_unknown_or_too_small_data_declines() -> None:
    only_tax = run(700, "A", data=facts(tax_paid_12m=20_000_000, annual_revenue=None))
    assert only_tax.amount_fen == 100_000_000  # the known term alone
    nothing = run(700, "A", data=facts(tax_paid_12m=None, annual_revenue=None))
    assert (nothing.outcome, nothing.reasons[0].code) == ("decline", "amount_basis_unknown")
    tiny = run(700, "A", data=facts(tax_paid_12m=1_000_000, annual_revenue=None))
    assert (tiny.outcome, tiny.reasons[0].code) == ("decline", "amount_below_minimum")


def test_the_rate_follows_the_band_inside_the_products_range() -> None:
    assert run(720, "A").annual_rate_pct == Decimal("3.65")
    assert run(660, "B").annual_rate_pct == Decimal("4.2")
    assert run(655, "D").annual_rate_pct == Decimal("6")  # 9.9 held at the product's maximum
    assert run(655, "D", rates={"D": "1"}).annual_rate_pct == Decimal("3.45")
    unserved = run(700, "E")
    assert (unserved.outcome, unserved.reasons[0].code) == ("decline", "band_not_served")


def test_the_offer_carries_fees_apr_and_the_first_instalments() -> None:
    offer = run(700, "A")
    full = schedule(offer.amount_fen, offer.annual_rate_pct, 12, offer.method, AS_OF)
    assert list(offer.instalments) == full[:3]
    assert offer.fees_fen == 500_000 + 20_000
    assert offer.apr_pct == apr(offer.amount_fen, offer.fees_fen, full)
    assert offer.apr_pct > offer.annual_rate_pct
    assert offer.total_interest_fen == sum(i.interest_fen for i in full)


def test_terms_and_methods_outside_the_product_are_refused() -> None:
    policy = parse_policy(POLICY)
    with pytest.raises(Invalid, match="does not offer"):
        decide(
            policy,
            RICH,
            Score(700, "A"),
            TERMS,
            amount_fen=10**8,
            term_months=12,
            method=RepaymentMethod.BULLET,
        )
    with pytest.raises(Invalid, match="6 to 36"):
        decide(
            policy,
            RICH,
            Score(700, "A"),
            TERMS,
            amount_fen=10**8,
            term_months=48,
            method=RepaymentMethod.EQUAL_INSTALMENT,
        )
    assert first_method(TERMS, RepaymentMethod.BULLET) is RepaymentMethod.EQUAL_INSTALMENT
    assert first_method(TERMS, RepaymentMethod.INTEREST_ONLY) is RepaymentMethod.INTEREST_ONLY
    assert clamp_term(TERMS, 60) == 36
    assert clamp_term(TERMS, 1) == 6
    assert clamp_term(TERMS, None) == 36
