"""The eligibility rule language: each rule kind passes and fails, invalid rules are
refused with a JSON pointer, and every rule reads in both languages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from finance.core.errors import Invalid
from products.facts import BY_NAME, FACTS, Facts, FactValue, months_before
from products.rules import (
    AnyOf,
    describe,
    eligible,
    evaluate,
    parse_eligibility,
    pointer,
)

AS_OF = dt.date(2026, 6, 15)


def facts(records: dict[str, list[dt.date]] | None = None, **values: Any) -> Facts:
    return Facts(
        as_of=AS_OF,
        values={
            name: FactValue(value, BY_NAME[name].source, AS_OF) for name, value in values.items()
        },
        records={name: tuple(days) for name, days in (records or {}).items()},
    )


ENTERPRISE = facts(
    records={"penalty_records": [dt.date(2025, 1, 10)], "enforcement_records": []},
    months_in_operation=30,
    tax_credit_rating="B",
    tax_paid_12m=12_000_000,
    tax_paid_trend=-10.0,
    insured_employees=12,
    insured_employees_trend=0.0,
    annual_revenue=50_000_000,
    annual_revenue_trend=5.0,
    utility_arrears=0,
    city="410100",
    industry="C",
    size_class="small",
    score_band="C",
)

# (rule, passes for ENTERPRISE): each kind of rule, once passing and once failing.
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"fact": "months_in_operation", "op": ">=", "value": 24}, True),
    ({"fact": "months_in_operation", "op": ">=", "value": 36}, False),
    ({"fact": "months_in_operation", "op": ">", "value": 29}, True),
    ({"fact": "months_in_operation", "op": ">", "value": 30}, False),
    ({"fact": "insured_employees", "op": "<=", "value": 12}, True),
    ({"fact": "insured_employees", "op": "<=", "value": 11}, False),
    ({"fact": "insured_employees", "op": "<", "value": 13}, True),
    ({"fact": "insured_employees", "op": "<", "value": 12}, False),
    ({"fact": "utility_arrears", "op": "==", "value": 0}, True),
    ({"fact": "utility_arrears", "op": "==", "value": 1}, False),
    ({"fact": "utility_arrears", "op": "!=", "value": 100}, True),
    ({"fact": "utility_arrears", "op": "!=", "value": 0}, False),
    ({"fact": "tax_paid_12m", "op": "between", "value": [10_000_000, 20_000_000]}, True),
    ({"fact": "tax_paid_12m", "op": "between", "value": [13_000_000, 20_000_000]}, False),
    ({"fact": "tax_paid_trend", "op": ">=", "value": -20}, True),
    ({"fact": "tax_paid_trend", "op": ">=", "value": -5.5}, False),
    ({"fact": "insured_employees_trend", "op": ">=", "value": 0}, True),
    ({"fact": "insured_employees_trend", "op": ">", "value": 0}, False),
    ({"fact": "annual_revenue", "op": ">=", "value": 50_000_000}, True),
    ({"fact": "annual_revenue", "op": ">", "value": 50_000_000}, False),
    ({"fact": "annual_revenue_trend", "op": "<=", "value": 10}, True),
    ({"fact": "annual_revenue_trend", "op": "<", "value": 5}, False),
    ({"fact": "city", "op": "in", "value": ["410100", "410300"]}, True),
    ({"fact": "city", "op": "in", "value": ["410300"]}, False),
    ({"fact": "industry", "op": "not_in", "value": ["B", "K"]}, True),
    ({"fact": "industry", "op": "not_in", "value": ["C"]}, False),
    ({"fact": "size_class", "op": "in", "value": ["micro", "small"]}, True),
    ({"fact": "size_class", "op": "in", "value": ["medium"]}, False),
    ({"fact": "tax_credit_rating", "op": "at_least", "value": "B"}, True),
    ({"fact": "tax_credit_rating", "op": "at_least", "value": "A"}, False),
    ({"fact": "tax_credit_rating", "op": "at_most", "value": "M"}, False),
    ({"fact": "tax_credit_rating", "op": "at_most", "value": "B"}, True),
    ({"fact": "score_band", "op": "at_least", "value": "C"}, True),
    ({"fact": "score_band", "op": "at_least", "value": "B"}, False),
    ({"fact": "score_band", "op": "not_in", "value": ["D", "E"]}, True),
    ({"fact": "score_band", "op": "in", "value": ["A", "B"]}, False),
    ({"fact": "penalty_records", "within_months": 12, "op": "<=", "value": 0}, True),
    ({"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0}, False),
    ({"fact": "penalty_records", "within_months": 24, "op": "==", "value": 1}, True),
    ({"fact": "enforcement_records", "within_months": 60, "op": "<", "value": 1}, True),
    ({"fact": "dishonest_debtor_records", "within_months": 60, "op": ">=", "value": 1}, False),
    (
        {
            "any_of": [
                {"fact": "insured_employees", "op": ">=", "value": 50},
                {"fact": "tax_credit_rating", "op": "in", "value": ["A", "B"]},
            ]
        },
        True,
    ),
    (
        {
            "any_of": [
                {"fact": "insured_employees", "op": ">=", "value": 50},
                {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0},
            ]
        },
        False,
    ),
]


@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_each_rule_kind_passes_and_fails(rule: dict[str, Any], expected: bool) -> None:
    eligibility = parse_eligibility([rule])
    [outcome] = evaluate(eligibility, ENTERPRISE)
    assert outcome.passed is expected
    assert eligible(eligibility, ENTERPRISE) is expected
    # What is stored reads back as the same rule.
    assert parse_eligibility(eligibility.to_json()) == eligibility


def test_every_documented_fact_is_covered_by_a_case() -> None:
    used = {rule.get("fact") for rule, _ in CASES} | {
        alternative["fact"] for rule, _ in CASES for alternative in rule.get("any_of", [])
    }
    assert {fact.name for fact in FACTS} == used - {None}


def test_a_rule_over_unknown_data_fails_and_says_so() -> None:
    eligibility = parse_eligibility(
        [
            {"fact": "annual_revenue", "op": ">=", "value": 0},
            {"fact": "annual_revenue_trend", "op": ">=", "value": -100},
            {"fact": "tax_credit_rating", "op": "not_in", "value": ["D"]},
        ]
    )
    outcomes = evaluate(eligibility, facts(annual_revenue=None, annual_revenue_trend=None))
    assert [o.passed for o in outcomes] == [False, False, False]
    assert outcomes[0].actual_zh == "年报营业收入：暂无数据"
    assert outcomes[0].actual_en == "revenue in the latest annual report: no data"


def test_records_count_within_calendar_months() -> None:
    # 24 months before 2026-06-15 is 2024-06-15: a record on that day counts, one the
    # day before does not.
    assert months_before(AS_OF, 24) == dt.date(2024, 6, 15)
    rule = parse_eligibility(
        [{"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0}]
    )
    assert not eligible(rule, facts(records={"penalty_records": [dt.date(2024, 6, 15)]}))
    assert eligible(rule, facts(records={"penalty_records": [dt.date(2024, 6, 14)]}))
    assert months_before(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)


INVALID: list[tuple[Any, str, str]] = [
    ("not a list", "/eligibility", "must be a list of rules"),
    ([5], "/eligibility/0", "a rule must be an object"),
    ([{"op": ">=", "value": 1}], "/eligibility/0/fact", "a rule names a fact"),
    ([{"fact": "profit", "op": ">=", "value": 1}], "/eligibility/0/fact", "unknown fact"),
    ([{"fact": "months_in_operation", "op": "~", "value": 1}], "/eligibility/0/op", "one of"),
    (
        [{"fact": "months_in_operation", "op": ">=", "value": "24"}],
        "/eligibility/0/value",
        "must be a number",
    ),
    (
        [{"fact": "months_in_operation", "op": ">=", "value": 2.5}],
        "/eligibility/0/value",
        "whole number",
    ),
    ([{"fact": "tax_paid_12m", "op": ">=", "value": -1}], "/eligibility/0/value", "negative"),
    ([{"fact": "tax_paid_12m", "op": ">=", "value": True}], "/eligibility/0/value", "number"),
    (
        [{"fact": "tax_paid_trend", "op": ">=", "value": -120}],
        "/eligibility/0/value",
        "between -100",
    ),
    (
        [{"fact": "tax_paid_12m", "op": "between", "value": [5, 1]}],
        "/eligibility/0/value",
        "must not exceed",
    ),
    (
        [{"fact": "tax_paid_12m", "op": "between", "value": 5}],
        "/eligibility/0/value",
        "between takes",
    ),
    ([{"fact": "city", "op": ">=", "value": "410100"}], "/eligibility/0/op", "in, not_in"),
    ([{"fact": "city", "op": "in", "value": ["999999"]}], "/eligibility/0/value", "unknown codes"),
    ([{"fact": "city", "op": "in", "value": []}], "/eligibility/0/value", "non-empty list"),
    ([{"fact": "city", "op": "in", "value": "410100"}], "/eligibility/0/value", "list"),
    (
        [{"fact": "tax_credit_rating", "op": "at_least", "value": "Z"}],
        "/eligibility/0/value",
        "one of A, B, M, C, D",
    ),
    (
        [{"fact": "penalty_records", "within_months": 0, "op": "<=", "value": 0}],
        "/eligibility/0/within_months",
        "between 1 and 120",
    ),
    (
        [{"fact": "penalty_records", "op": "<=", "value": 0}],
        "/eligibility/0/within_months",
        "required",
    ),
    (
        [{"fact": "months_in_operation", "within_months": 12, "op": "<=", "value": 0}],
        "/eligibility/0/fact",
        "cannot be used",
    ),
    (
        [{"fact": "size_class", "op": "in", "value": ["micro"], "note": "x"}],
        "/eligibility/0/note",
        "unknown field",
    ),
    (
        [{"any_of": [{"fact": "city", "op": "in", "value": ["410100"]}]}],
        "/eligibility/0/any_of",
        "2 to",
    ),
    (
        [
            {"fact": "industry", "op": "in", "value": ["C"]},
            {
                "any_of": [
                    {"fact": "city", "op": "in", "value": ["410100"]},
                    {"fact": "industry", "op": "in", "value": ["Q"]},
                    {"any_of": []},
                ]
            },
        ],
        "/eligibility/1/any_of/2",
        "cannot nest",
    ),
    (
        [
            {
                "any_of": [
                    {"fact": "city", "op": "in", "value": ["410100"]},
                    {"fact": "industry", "op": "in", "value": [3]},
                ]
            }
        ],
        "/eligibility/0/any_of/1/value",
        "unknown codes",
    ),
]


@pytest.mark.parametrize(("data", "where", "words"), INVALID)
def test_invalid_rules_are_refused_with_a_pointer(data: Any, where: str, words: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_eligibility(data)
    assert refused.value.status == 422
    errors = refused.value.extensions["errors"]
    assert any(e["pointer"] == where and words in e["detail"] for e in errors), errors


def test_every_error_is_reported_at_once_under_the_callers_pointer() -> None:
    with pytest.raises(Invalid) as refused:
        parse_eligibility(
            [
                {"fact": "city", "op": "in", "value": ["410100"]},
                {"fact": "nope", "op": ">=", "value": 1},
                {"fact": "industry", "op": "in", "value": ["C"], "x~/y": 1},
            ],
            pointer="/versions/0/eligibility",
        )
    pointers = [e["pointer"] for e in refused.value.extensions["errors"]]
    assert pointers == ["/versions/0/eligibility/1/fact", "/versions/0/eligibility/2/x~0~1y"]
    assert pointer("a/b", "c~d", 3) == "/a~1b/c~0d/3"


WORDS: list[tuple[dict[str, Any], str, str]] = [
    (
        {"fact": "months_in_operation", "op": ">=", "value": 24},
        "经营月数不低于24个月",
        "months in operation at least 24 months",
    ),
    (
        {"fact": "tax_paid_12m", "op": "between", "value": [5_000_000, 500_000_000]},
        "近12个月纳税额在5万元至500万元之间",
        "tax paid over the last 12 months between CNY 50,000 and CNY 5,000,000",
    ),
    (
        {"fact": "utility_arrears", "op": "<=", "value": 12_345},
        "水电欠费不高于123.45元",
        "overdue utility bills at most CNY 123.45",
    ),
    (
        {"fact": "tax_paid_trend", "op": ">", "value": -20},
        "近12个月纳税额同比变化高于-20%",
        "change in tax paid against the year before more than -20%",
    ),
    (
        {"fact": "tax_credit_rating", "op": "at_least", "value": "B"},
        "纳税信用等级为B级或更好",
        "tax credit rating B or better",
    ),
    (
        {"fact": "score_band", "op": "at_most", "value": "D"},
        "信用评分档位为D档或更差",
        "credit score band D or worse",
    ),
    (
        {"fact": "city", "op": "in", "value": ["410100", "410300"]},
        "所在地市为郑州市、洛阳市之一",
        "city is one of Zhengzhou, Luoyang",
    ),
    (
        {"fact": "size_class", "op": "not_in", "value": ["large"]},
        "企业规模不为大型",
        "size class is not large",
    ),
    (
        {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0},
        "近24个月无行政处罚记录",
        "no administrative penalties in the last 24 months",
    ),
    (
        {"fact": "enforcement_records", "within_months": 36, "op": "<", "value": 3},
        "近36个月被执行记录低于3条",
        "less than 3 enforcement cases against it in the last 36 months",
    ),
    (
        {
            "any_of": [
                {"fact": "insured_employees", "op": ">=", "value": 10},
                {"fact": "industry", "op": "in", "value": ["I"]},
            ]
        },
        "满足以下任一条件：参保人数不低于10人；或所属行业门类为信息传输、软件和信息技术服务业",
        "any of: insured employees at least 10; or industry section is "
        "Information transmission, software and IT",
    ),
]


@pytest.mark.parametrize(("rule", "zh", "en"), WORDS)
def test_rules_render_in_both_languages(rule: dict[str, Any], zh: str, en: str) -> None:
    [parsed] = parse_eligibility([rule]).rules
    assert describe(parsed, "zh") == zh
    assert describe(parsed, "en") == en
    [outcome] = evaluate(parse_eligibility([rule]), ENTERPRISE)
    assert (outcome.zh, outcome.en) == (zh, en)


def test_the_outcome_words_carry_the_enterprises_own_value() -> None:
    eligibility = parse_eligibility(
        [
            {"fact": "tax_paid_12m", "op": ">=", "value": 20_000_000},
            {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0},
        ]
    )
    money, records = evaluate(eligibility, ENTERPRISE)
    assert money.actual_zh == "近12个月纳税额：12万元"
    assert money.actual_en == "tax paid over the last 12 months: CNY 120,000"
    assert records.actual_zh == "近24个月行政处罚记录1条"
    assert isinstance(parse_eligibility([CASES[-1][0]]).rules[0], AnyOf)
