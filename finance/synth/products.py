"""The terms of the synthetic province's products, as a bank's product team would write
them: repayment methods and fees by kind of product, the cities a local bank lends in,
the industries a sector product serves, the data it needs consent for, and its
eligibility rules and decision policy. All of it is SYNTHETIC.

Each product of ``finance.synth.lending.banks_and_products`` follows one of the
``PRODUCT_TEMPLATES``; its template's spec here fills in the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finance.synth.vocabulary import BANKS
from products.schemas import FixedFee, PercentFee, VersionTerms

EVERY_METHOD = ("equal_instalment", "equal_principal", "interest_only", "bullet")

# Where a local bank lends (GB/T 2260 city codes); provincial branches lend everywhere.
BANK_CITIES: dict[str, tuple[str, ...]] = {
    "ZZB": ("410100",),
    "LYB": ("410300",),
    "PDSB": ("410400",),
    "ZZRCB": ("410100",),
    "LYRCB": ("410300",),
    "NYRCB": ("411300",),
    "XXRCB": ("410700",),
    "XCRCB": ("411000",),
    "XMVB": ("410100",),
    "YCVB": ("410300",),
}


@dataclass(frozen=True)
class Spec:
    """What a kind of product adds to its template's ranges."""

    name_en: str
    description: str
    methods: tuple[str, ...]
    data_categories: tuple[str, ...]
    industries: tuple[str, ...] = ()
    fees: tuple[FixedFee | PercentFee, ...] = ()
    consent_months: int = 24
    auto_decision: bool = True
    # The template's own eligibility rules (the bank's common ones are added to them).
    rules: tuple[dict[str, Any], ...] = ()
    # The policy's amount formula: (fact, multiple) terms and how they combine.
    amount: tuple[tuple[str, str], ...] = (("annual_revenue", "0.2"),)
    combine: str = "min"


SPECS: dict[str, Spec] = {
    "税易贷": Spec(
        "Tax e-Loan",
        "按纳税信用和近12个月纳税额核定额度的纯信用经营贷款，线上申请、自动审批。",
        ("equal_instalment", "interest_only"),
        ("registration", "tax"),
        rules=(
            {"fact": "tax_credit_rating", "op": "at_least", "value": "B"},
            {"fact": "tax_paid_12m", "op": ">=", "value": 2_000_000},
            {"fact": "tax_paid_trend", "op": ">=", "value": -30},
        ),
        amount=(("tax_paid_12m", "8"),),
    ),
    "信易贷": Spec(
        "Credit e-Loan",
        "依托平台汇集的涉企信用信息发放的纯信用贷款，随借随还。",
        ("equal_instalment", "equal_principal", "interest_only"),
        ("registration", "tax", "social_insurance", "judicial", "penalties"),
        rules=(
            {"fact": "tax_credit_rating", "op": "at_least", "value": "M"},
            {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 1},
            {"fact": "score_band", "op": "at_least", "value": "D"},
        ),
        amount=(("tax_paid_12m", "6"), ("annual_revenue", "0.15")),
        combine="max",
    ),
    "经营快贷": Spec(
        "Quick Business Loan",
        "小微企业短期周转贷款，额度小、放款快。",
        ("interest_only", "bullet"),
        ("registration", "tax", "utilities"),
        consent_months=12,
        rules=(
            {"fact": "utility_arrears", "op": "<=", "value": 0},
            {"fact": "annual_revenue", "op": ">=", "value": 50_000_000},
        ),
        amount=(("annual_revenue", "0.1"),),
    ),
    "社保贷": Spec(
        "Social Insurance Loan",
        "以企业社保、公积金缴存记录为依据的信用贷款。",
        ("equal_instalment", "interest_only"),
        ("registration", "social_insurance", "housing_fund"),
        rules=(
            {"fact": "insured_employees", "op": ">=", "value": 5},
            {"fact": "insured_employees_trend", "op": ">=", "value": -20},
        ),
        amount=(("annual_revenue", "0.15"), ("tax_paid_12m", "10")),
    ),
    "电e贷": Spec(
        "Power e-Loan",
        "以企业用电、用水等经营数据为依据的信用贷款。",
        ("equal_instalment", "interest_only"),
        ("registration", "utilities", "tax"),
        rules=(
            {"fact": "utility_arrears", "op": "<=", "value": 0},
            {"fact": "annual_revenue_trend", "op": ">=", "value": -25},
        ),
        amount=(("annual_revenue", "0.15"),),
    ),
    "科技贷": Spec(
        "Tech Enterprise Loan",
        "面向科技型中小企业的信用贷款，知识产权和研发投入作为增信。",
        ("equal_principal", "interest_only"),
        ("registration", "tax", "ip", "social_insurance"),
        industries=("C", "I", "M"),
        fees=(PercentFee(kind="percent", name="评估服务费", percent=Decimal("0.3")),),
        consent_months=36,
        auto_decision=False,
        rules=(
            {"fact": "industry", "op": "in", "value": ["C", "I", "M"]},
            {"fact": "annual_revenue", "op": ">=", "value": 300_000_000},
            {"fact": "insured_employees", "op": ">=", "value": 10},
        ),
        amount=(("annual_revenue", "0.3"),),
    ),
    "政采贷": Spec(
        "Procurement Contract Loan",
        "凭政府采购中标合同发放的信用贷款，回款账户监管。",
        ("interest_only", "bullet"),
        ("registration", "procurement", "tax"),
        rules=(
            {"fact": "tax_credit_rating", "op": "at_least", "value": "M"},
            {"fact": "penalty_records", "within_months": 12, "op": "<=", "value": 0},
        ),
        amount=(("annual_revenue", "0.25"),),
    ),
    "普惠信用贷": Spec(
        "Inclusive Credit Loan",
        "普惠型小微企业信用贷款，利率优惠。",
        EVERY_METHOD[:3],
        ("registration", "tax", "social_insurance"),
        rules=(
            {"fact": "size_class", "op": "in", "value": ["micro", "small"]},
            {
                "any_of": [
                    {"fact": "tax_credit_rating", "op": "at_least", "value": "B"},
                    {"fact": "insured_employees", "op": ">=", "value": 10},
                ]
            },
        ),
        amount=(("annual_revenue", "0.2"), ("tax_paid_12m", "10")),
    ),
    "抵押经营贷": Spec(
        "Secured Business Loan",
        "以房产、土地使用权抵押的经营性贷款，额度高、期限长。",
        ("equal_instalment", "equal_principal", "interest_only"),
        ("registration", "tax", "judicial"),
        fees=(
            FixedFee(kind="fixed", name="抵押登记费", amount_fen=55_000),
            PercentFee(kind="percent", name="评估费", percent=Decimal("0.1")),
        ),
        consent_months=36,
        auto_decision=False,
        rules=(
            {"fact": "months_in_operation", "op": ">=", "value": 36},
            {"fact": "annual_revenue", "op": ">=", "value": 200_000_000},
        ),
        amount=(("annual_revenue", "0.5"),),
    ),
    "担保贷": Spec(
        "Guaranteed Loan",
        "由政府性融资担保机构提供担保的经营贷款。",
        ("equal_instalment", "interest_only", "bullet"),
        ("registration", "tax", "social_insurance", "judicial"),
        fees=(PercentFee(kind="percent", name="担保费", percent=Decimal("1.0")),),
        auto_decision=False,
        rules=({"fact": "size_class", "op": "in", "value": ["micro", "small", "medium"]},),
        amount=(("annual_revenue", "0.3"),),
    ),
    "知识产权质押贷": Spec(
        "IP Pledge Loan",
        "以专利权、商标权质押的科技企业贷款。",
        ("equal_principal", "interest_only"),
        ("registration", "ip", "tax"),
        industries=("C", "I", "M"),
        fees=(PercentFee(kind="percent", name="评估费", percent=Decimal("0.5")),),
        consent_months=36,
        auto_decision=False,
        rules=(
            {"fact": "industry", "op": "in", "value": ["C", "I", "M"]},
            {"fact": "months_in_operation", "op": ">=", "value": 24},
        ),
        amount=(("annual_revenue", "0.4"),),
    ),
}


# By kind of bank: months in operation it asks for, how long a dishonest-debtor listing
# or an enforcement case keeps an enterprise out, and its score cut-offs (approve, refer).
# The cut-offs sit on the credit model's scale (600 points at good:bad odds of 50:1, 40
# points to double the odds: ``credit.model.ScoreScale``) where the synthetic province's
# borrowers fall: its loans default at a few per cent a year, so its scores run from about
# 550 to 610 and a bank approving only above 610 (PD under 1.6%) would approve nobody.
# On the demo province (3,000 enterprises, seed 42) the policy bank's line passes the
# best sixth of the scores, a city bank's about 45%, a village bank's about 70%.
@dataclass(frozen=True)
class Appetite:
    months_in_operation: int
    clean_months: int
    approve_min_score: int
    refer_min_score: int


APPETITE: dict[str, Appetite] = {
    "state_owned": Appetite(24, 36, 590, 565),
    "policy": Appetite(36, 36, 595, 570),
    "joint_stock": Appetite(24, 24, 585, 560),
    "city_commercial": Appetite(12, 24, 580, 555),
    "rural": Appetite(12, 24, 570, 545),
    "village": Appetite(6, 12, 565, 540),
    "other": Appetite(12, 24, 580, 555),
}
BANK_KIND = {bank.code: bank.kind for bank in BANKS}


def eligibility(spec: Spec, appetite: Appetite) -> list[dict[str, Any]]:
    """The bank's common entry rules, then the product's own."""
    common: list[dict[str, Any]] = [
        {"fact": "months_in_operation", "op": ">=", "value": appetite.months_in_operation},
        {
            "fact": "dishonest_debtor_records",
            "within_months": appetite.clean_months,
            "op": "==",
            "value": 0,
        },
        {
            "fact": "enforcement_records",
            "within_months": appetite.clean_months,
            "op": "<=",
            "value": 0,
        },
    ]
    own = [rule for rule in spec.rules if rule.get("fact") != "months_in_operation"]
    stricter = [rule for rule in spec.rules if rule.get("fact") == "months_in_operation"]
    if stricter:
        common[0] = stricter[0]
    return common + own


def policy(spec: Spec, appetite: Appetite, low: Decimal, high: Decimal) -> dict[str, Any]:
    """Cut-offs by the bank's appetite, the amount by the product's formula, and rates by
    score band spread over the product's range (band E is declined)."""
    step = (high - low) / 3

    def rate(k: int) -> str:
        return str((low + step * k).quantize(Decimal("0.01")))

    return {
        "approve_min_score": appetite.approve_min_score,
        "refer_min_score": appetite.refer_min_score,
        "amount": {
            "combine": spec.combine,
            "terms": [{"fact": fact, "times": times} for fact, times in spec.amount],
        },
        "rates": {"A": rate(0), "B": rate(1), "C": rate(2), "D": str(high)},
        "round_down_fen": 1_000_000,
    }


def template_of(name: str) -> str:
    """The template a synthetic product's name was made from (its suffix)."""
    for suffix in sorted(SPECS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"no product template for {name!r}")


def synthetic_terms(product: Mapping[Hashable, Any]) -> VersionTerms:
    """The full terms of one row of the synthetic book's products."""
    spec = SPECS[template_of(str(product["name"]))]
    bank = str(product["bank_code"]).removeprefix("SYN-")
    low, high = int(product["min_amount_fen"]), int(product["max_amount_fen"])
    default = min(high, max(low, (low + high) // 4 // 1_000_000 * 1_000_000))
    rate_low = Decimal(str(product["rate_min_pct"]))
    rate_high = Decimal(str(product["rate_max_pct"]))
    appetite = APPETITE[BANK_KIND.get(bank, "other")]
    return VersionTerms(
        name=str(product["name"]),
        name_en=f"{bank} {spec.name_en}",
        description=spec.description,
        guarantee=product["guarantee"],
        min_amount_fen=low,
        max_amount_fen=high,
        default_amount_fen=default,
        min_term_months=int(product["min_term_months"]),
        max_term_months=int(product["max_term_months"]),
        rate_min_pct=rate_low,
        rate_max_pct=rate_high,
        repayment_methods=list(spec.methods),
        fees=list(spec.fees),
        cities=list(BANK_CITIES.get(bank, ())),
        industries=list(spec.industries),
        sizes=[s for s in str(product["target_sizes"]).split(",") if s],
        data_categories=list(spec.data_categories),
        consent_months=spec.consent_months,
        eligibility=eligibility(spec, appetite),
        policy=policy(spec, appetite, rate_low, rate_high),
        auto_decision=spec.auto_decision,
    )
