"""Enterprise size class (大/中/小/微) by 工信部联企业〔2011〕300号.

A row names one or two indicators (employees, revenue, assets; money in 10,000 yuan).
Large: at or above every SME upper bound of the row. Medium: reaches every medium lower
bound. Small: reaches every small lower bound. Micro: below any small lower bound.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from finance.core.reference import SizeRule, size_rule_for

FEN_PER_10K_YUAN = 1_000_000


class SizeClass(enum.StrEnum):
    LARGE = "large"  # 大型
    MEDIUM = "medium"  # 中型
    SMALL = "small"  # 小型
    MICRO = "micro"  # 微型
    UNKNOWN = "unknown"  # indicators not reported


def _indicator_value(
    indicator: str, employees: int | None, revenue_fen: int | None, assets_fen: int | None
) -> Decimal | None:
    if indicator == "employees":
        return None if employees is None else Decimal(employees)
    if indicator == "revenue_10k_cny":
        return None if revenue_fen is None else Decimal(revenue_fen) / FEN_PER_10K_YUAN
    if indicator == "assets_10k_cny":
        return None if assets_fen is None else Decimal(assets_fen) / FEN_PER_10K_YUAN
    raise ValueError(f"unknown size indicator {indicator!r}")


def classify_by_rule(
    rule: SizeRule, employees: int | None, revenue_fen: int | None, assets_fen: int | None
) -> SizeClass:
    values = [_indicator_value(i, employees, revenue_fen, assets_fen) for i in rule.indicators]
    if any(v is None for v in values):
        return SizeClass.UNKNOWN
    checked = [v for v in values if v is not None]
    upper = [rule.sme_upper_1, rule.sme_upper_2][: len(checked)]
    medium = [rule.medium_min_1, rule.medium_min_2][: len(checked)]
    small = [rule.small_min_1, rule.small_min_2][: len(checked)]
    if all(b is not None and v >= b for v, b in zip(checked, upper, strict=True)):
        return SizeClass.LARGE
    if all(b is not None and v >= b for v, b in zip(checked, medium, strict=True)):
        return SizeClass.MEDIUM
    if all(b is not None and v >= b for v, b in zip(checked, small, strict=True)):
        return SizeClass.SMALL
    return SizeClass.MICRO


def classify(
    industry_division: str,
    employees: int | None,
    revenue_fen: int | None,
    assets_fen: int | None,
    industry_class: str | None = None,
) -> SizeClass:
    rule = size_rule_for(industry_division, industry_class)
    return classify_by_rule(rule, employees, revenue_fen, assets_fen)
