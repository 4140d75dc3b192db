"""Enterprise size by 工信部联企业〔2011〕300号: every rule row, at and around its bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from finance.core.reference import SizeRule, size_rule_for, size_rules
from finance.enterprises.size import FEN_PER_10K_YUAN, SizeClass, classify_by_rule

RULES = list(size_rules().values())


def _figures(rule: SizeRule, values: list[Decimal], nudge: list[int]) -> dict[str, int]:
    """Indicator values as classify() takes them, each nudged by -1 unit (person or fen)."""
    figures = {"employees": 0, "revenue_fen": 0, "assets_fen": 0}
    for indicator, value, delta in zip(rule.indicators, values, nudge, strict=False):
        if indicator == "employees":
            figures["employees"] = int(value) + delta
        elif indicator == "revenue_10k_cny":
            figures["revenue_fen"] = int(value * FEN_PER_10K_YUAN) + delta
        else:
            figures["assets_fen"] = int(value * FEN_PER_10K_YUAN) + delta
    return figures


def _size(rule: SizeRule, values: list[Decimal | None], nudge: list[int]) -> SizeClass:
    figures = _figures(rule, [v for v in values if v is not None], nudge)
    return classify_by_rule(
        rule, figures["employees"], figures["revenue_fen"], figures["assets_fen"]
    )


def test_the_table_has_every_industry_of_the_rule() -> None:
    assert len(RULES) == 16
    assert {r.industry for r in RULES} >= {"industry", "retail", "software_it", "other"}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.industry)
def test_bounds_of_each_row(rule: SizeRule) -> None:
    n = len(rule.indicators)
    upper = [rule.sme_upper_1, rule.sme_upper_2][:n]
    medium = [rule.medium_min_1, rule.medium_min_2][:n]
    small = [rule.small_min_1, rule.small_min_2][:n]
    at = [0] * n
    assert _size(rule, upper, at) is SizeClass.LARGE
    assert _size(rule, medium, at) is SizeClass.MEDIUM
    assert _size(rule, small, at) is SizeClass.SMALL
    for i in range(n):
        below = [-1 if j == i else 0 for j in range(n)]
        # One indicator under the SME upper bound makes an SME (medium, as the other
        # indicators still reach the medium bounds here).
        assert _size(rule, upper, below) is SizeClass.MEDIUM
        assert _size(rule, medium, below) is SizeClass.SMALL
        assert _size(rule, small, below) is SizeClass.MICRO
    assert _size(rule, [Decimal(0)] * n, at) is SizeClass.MICRO


def test_missing_indicator_gives_unknown() -> None:
    rule = size_rules()["industry"]
    assert classify_by_rule(rule, None, 10**9, None) is SizeClass.UNKNOWN
    # An indicator the row does not use may be missing.
    assert classify_by_rule(size_rules()["agriculture"], None, 0, None) is SizeClass.MICRO


@pytest.mark.parametrize(
    ("division", "industry_class", "row"),
    [
        ("01", None, "agriculture"),
        ("13", None, "industry"),
        ("44", None, "industry"),
        ("48", None, "construction"),
        ("51", None, "wholesale"),
        ("52", None, "retail"),
        ("54", None, "transport"),
        ("59", None, "warehousing"),
        ("60", None, "postal"),
        ("61", None, "accommodation"),
        ("62", None, "catering"),
        ("63", None, "information_transmission"),
        ("65", None, "software_it"),
        ("70", None, "real_estate_development"),
        ("70", "7020", "property_management"),
        ("72", None, "leasing_business_services"),
        ("84", None, "other"),
    ],
)
def test_industry_divisions_map_to_their_rule_row(
    division: str, industry_class: str | None, row: str
) -> None:
    assert size_rule_for(division, industry_class).industry == row
