"""Matching against random enterprises and products: the eligible set equals a
brute-force evaluation of every rule (written here independently of products.rules),
and every estimate lies within its product's ranges."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from finance.lending.schedule import RepaymentMethod
from products.facts import BY_NAME, FACTS, Facts, FactType, FactValue
from products.matching import Ask, Candidate, match_candidates
from products.policy import Fee, ProductTerms, parse_policy
from products.rules import parse_eligibility

AS_OF = dt.date(2026, 6, 15)
NUMERIC = [f.name for f in FACTS if f.type in (FactType.COUNT, FactType.MONEY)]
PERCENT = [f.name for f in FACTS if f.type is FactType.PERCENT]
CHOICE = [f.name for f in FACTS if f.type in (FactType.CATEGORY, FactType.GRADE)]
GRADES = [f.name for f in FACTS if f.type is FactType.GRADE]
RECORDS = [f.name for f in FACTS if f.type is FactType.RECORDS]
COMPARISONS = [">=", ">", "<=", "<", "==", "!="]


@dataclass(frozen=True)
class Score:
    score: int
    band: str


# ------------------------------------------------------------ independent brute force


def _months_back(day: dt.date, months: int) -> dt.date:
    """``months`` calendar months before ``day`` (AS_OF is the 15th: no month is short)."""
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, day.day)


def _cmp(op: str, a: Any, b: Any) -> bool:
    return {">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "==": a == b, "!=": a != b}[op]


def brute(rule: dict[str, Any], values: dict[str, Any], records: dict[str, list[dt.date]]) -> bool:
    if "any_of" in rule:
        return any(brute(r, values, records) for r in rule["any_of"])
    fact, op, expected = rule["fact"], rule["op"], rule["value"]
    if "within_months" in rule:
        since = _months_back(AS_OF, rule["within_months"])
        return _cmp(op, len([d for d in records.get(fact, []) if d >= since]), expected)
    actual = values.get(fact)
    if actual is None:
        return False
    if op == "between":
        return expected[0] <= actual <= expected[1]
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op in ("at_least", "at_most"):
        order = list(BY_NAME[fact].codes)
        better_or_same = order.index(actual) <= order.index(expected)
        return better_or_same if op == "at_least" else order.index(actual) >= order.index(expected)
    return _cmp(op, actual, expected)


# ------------------------------------------------------------ strategies


def numeric_rule(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        fact = draw(st.sampled_from(NUMERIC))
        number = st.integers(0, 2000)
    else:
        fact = draw(st.sampled_from(PERCENT))
        number = st.one_of(st.integers(-100, 300), st.floats(-100, 300, allow_nan=False))
    op = draw(st.sampled_from([*COMPARISONS, "between"]))
    if op == "between":
        low, high = sorted([draw(number), draw(number)])
        return {"fact": fact, "op": op, "value": [low, high]}
    return {"fact": fact, "op": op, "value": draw(number)}


def choice_rule(draw: st.DrawFn) -> dict[str, Any]:
    fact = draw(st.sampled_from(CHOICE))
    codes = list(BY_NAME[fact].codes)
    ops = ["in", "not_in", *(["at_least", "at_most"] if fact in GRADES else [])]
    op = draw(st.sampled_from(ops))
    if op in ("at_least", "at_most"):
        return {"fact": fact, "op": op, "value": draw(st.sampled_from(codes))}
    chosen = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=4, unique=True))
    return {"fact": fact, "op": op, "value": chosen}


def records_rule(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "fact": draw(st.sampled_from(RECORDS)),
        "within_months": draw(st.integers(1, 120)),
        "op": draw(st.sampled_from(COMPARISONS)),
        "value": draw(st.integers(0, 3)),
    }


@st.composite
def condition(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([numeric_rule, choice_rule, records_rule]))
    return kind(draw)


@st.composite
def rule(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 5)) == 0:
        return {"any_of": draw(st.lists(condition(), min_size=2, max_size=3))}
    return draw(condition())


@st.composite
def enterprise(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, list[dt.date]]]:
    values: dict[str, Any] = {}
    for fact in FACTS:
        if fact.type is FactType.RECORDS:
            continue
        if draw(st.integers(0, 9)) == 0:
            values[fact.name] = None
        elif fact.type in (FactType.COUNT, FactType.MONEY):
            values[fact.name] = draw(st.integers(0, 2000))
        elif fact.type is FactType.PERCENT:
            values[fact.name] = draw(st.floats(-100, 300, allow_nan=False))
        else:
            values[fact.name] = draw(st.sampled_from(fact.codes))
    days = st.dates(AS_OF - dt.timedelta(days=3700), AS_OF - dt.timedelta(days=1))
    records = {name: draw(st.lists(days, max_size=3)) for name in RECORDS}
    return values, records


@st.composite
def product(draw: st.DrawFn, number: int, shared: list[dict[str, Any]]) -> Candidate:
    low = draw(st.integers(1, 50)) * 10_000
    high = low + draw(st.integers(0, 100)) * 10_000
    rate_low = Decimal(draw(st.integers(300, 600))) / 100
    rate_high = rate_low + Decimal(draw(st.integers(0, 600))) / 100
    term_low = draw(st.integers(1, 24))
    methods = draw(st.lists(st.sampled_from(list(RepaymentMethod)), min_size=1, unique=True))
    terms = ProductTerms(
        min_amount_fen=low,
        max_amount_fen=high,
        min_term_months=term_low,
        max_term_months=term_low + draw(st.integers(0, 36)),
        rate_min_pct=rate_low,
        rate_max_pct=rate_high,
        methods=tuple(methods),
        fees=tuple(
            draw(
                st.lists(
                    st.one_of(
                        st.builds(lambda f: Fee("fixed", amount_fen=f), st.integers(0, 500)),
                        st.builds(
                            lambda p: Fee("percent", percent=Decimal(p) / 100),
                            st.integers(0, 100),
                        ),
                    ),
                    max_size=2,
                )
            )
        ),
    )
    refer = draw(st.integers(300, 900))
    bands = draw(st.lists(st.sampled_from("ABCDE"), min_size=1, unique=True))
    policy = parse_policy(
        {
            "approve_min_score": draw(st.integers(refer, 900)),
            "refer_min_score": refer,
            "amount": {
                "combine": draw(st.sampled_from(["min", "max"])),
                "terms": [
                    {
                        "fact": draw(st.sampled_from(["tax_paid_12m", "annual_revenue"])),
                        "times": str(draw(st.integers(1, 100))),
                    }
                ],
            },
            "rates": {b: str(Decimal(draw(st.integers(100, 1500))) / 100) for b in bands},
            "round_down_fen": draw(st.sampled_from([1, 100, 10_000])),
        }
    )
    # Some rules come from a pool the catalogue's products share (real catalogues repeat
    # their rules; matching evaluates a shared rule once per enterprise).
    drawn = st.one_of(rule(), st.sampled_from(shared)) if shared else rule()
    rules = draw(st.lists(drawn, max_size=5))
    return Candidate(
        version_id=number,
        version_number=1,
        product_id=number,
        bank_id=1,
        bank_name="bank",
        code=f"P{number:03d}",
        name=f"product {number}",
        name_en=None,
        guarantee="pure_credit",
        eligibility=parse_eligibility(rules),
        policy=policy,
        terms=terms,
    ), rules  # type: ignore[return-value]


@st.composite
def catalogue(draw: st.DrawFn) -> list[tuple[Candidate, list[dict[str, Any]]]]:
    count = draw(st.integers(1, 8))
    shared = draw(st.lists(rule(), max_size=3))
    return [draw(product(number, shared)) for number in range(count)]


@settings(max_examples=200, deadline=None)
@given(
    data=enterprise(),
    products=catalogue(),
    score=st.integers(300, 900),
    band=st.sampled_from("ABCDE"),
    amount=st.one_of(st.none(), st.integers(1, 3_000_000)),
    term=st.one_of(st.none(), st.integers(1, 120)),
    method=st.one_of(st.none(), st.sampled_from(list(RepaymentMethod))),
)
def test_the_eligible_set_is_every_rule_evaluated_by_brute_force(
    data: tuple[dict[str, Any], dict[str, list[dt.date]]],
    products: list[tuple[Candidate, list[dict[str, Any]]]],
    score: int,
    band: str,
    amount: int | None,
    term: int | None,
    method: RepaymentMethod | None,
) -> None:
    values, records = data
    values = values | {"score_band": band}
    facts = Facts(
        AS_OF,
        {name: FactValue(v, BY_NAME[name].source, AS_OF) for name, v in values.items()},
        {name: tuple(days) for name, days in records.items()},
    )
    ask = Ask(amount, term, method, preview_months=2)
    eligible, ineligible = match_candidates(
        [c for c, _ in products], facts, Score(score, band), ask
    )

    expected = {
        c.version_id for c, rules in products if all(brute(r, values, records) for r in rules)
    }
    assert {m.candidate.version_id for m in eligible} == expected
    assert {m.candidate.version_id for m in ineligible} == {
        c.version_id for c, _ in products
    } - expected
    for match in ineligible:
        rules = dict((c.version_id, r) for c, r in products)[match.candidate.version_id]
        failing = [r for r in rules if not brute(r, values, records)]
        assert len(match.failed) == len(failing) > 0
        assert all(not o.passed and o.zh and o.en for o in match.failed)

    tiers = [("likely", "review", "unlikely").index(m.approval or "") for m in eligible]
    assert tiers == sorted(tiers)
    for match in eligible:
        terms, decision = match.candidate.terms, match.decision
        assert decision is not None
        assert terms.min_term_months <= decision.term_months <= terms.max_term_months
        assert decision.method in terms.methods
        if method in terms.methods:
            assert decision.method == method
        if decision.outcome == "decline":
            assert decision.amount_fen is None
            continue
        assert decision.amount_fen is not None
        assert decision.annual_rate_pct is not None
        assert terms.min_amount_fen <= decision.amount_fen <= terms.max_amount_fen
        assert decision.amount_fen <= (amount or terms.max_amount_fen)
        assert terms.rate_min_pct <= decision.annual_rate_pct <= terms.rate_max_pct
        assert decision.apr_pct is not None
        assert decision.apr_pct > 0
        assert 1 <= len(decision.instalments) <= 2
        expected_outcome = (
            "approve" if score >= match.candidate.policy.approve_min_score else "refer"
        )  # type: ignore[union-attr]
        assert decision.outcome == expected_outcome
