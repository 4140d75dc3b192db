"""The feature catalogue: every model input with its meaning (the adverse phrase shown as
a reason code, in Chinese and English), its business direction and whether it is
categorical; and the point-in-time windows the definitions use.

An enterprise's features as of a date use only records dated strictly before it: monthly
categories up to the month before the as-of month (a month is complete only once it has
ended), event categories up to the day before. Windows are the ``MONTHS`` complete months
before the as-of month (monthly data) and ``DAYS_12M`` / ``DAYS_24M`` days before the
as-of date (events). How each feature is computed: ``credit.features.compute``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MONTHS = 24  # panel width: the 24 complete months before the as-of month
STALE_MONTHS = (
    3  # the industry index value: the latest month before the as-of month, at most this far back
)
DAYS_12M = 365
DAYS_24M = 730


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input. ``direction`` +1: a higher value means more risk as a business
    fact (used as a monotone constraint), -1: less risk, 0: no constraint. The phrases
    describe the adverse reading and are shown as reason codes."""

    name: str
    zh: str
    en: str
    direction: int = 0
    categorical: bool = False


FEATURES: tuple[Feature, ...] = (
    # tax
    Feature("tax_paid_12m_yuan", "近12个月纳税额偏低", "low tax paid over the last 12 months"),
    Feature(
        "tax_paid_trend", "近12个月纳税额较上年下降", "tax paid fell over the last 12 months", -1
    ),
    Feature(
        "tax_paid_trend_6m",
        "近6个月纳税额较前6个月下降",
        "tax paid in the last 6 months fell against the 6 before",
        -1,
    ),
    Feature(
        "tax_paid_3m_yoy",
        "近3个月纳税额较上年同期下降",
        "tax paid in the last 3 months fell against a year earlier",
    ),
    Feature("tax_volatility_12m", "纳税额月度波动大", "monthly tax paid is volatile"),
    Feature(
        "tax_zero_months_12m", "近12个月多个月份零纳税", "months with zero tax in the last year", 1
    ),
    Feature(
        "tax_months_reported_12m",
        "近12个月纳税记录不完整",
        "tax records missing for months of the last year",
    ),
    Feature("tax_arrears_yuan", "存在欠税", "tax arrears outstanding", 1),
    Feature(
        "tax_arrears_months_12m", "近12个月多次欠税", "months in tax arrears in the last year", 1
    ),
    Feature("tax_arrears_months_6m", "近6个月存在欠税", "tax arrears in the last 6 months", 1),
    Feature("tax_rating_rank", "纳税信用等级较低", "low tax credit rating", 1),
    # social insurance
    Feature("insured_employees", "参保人数少", "few insured employees"),
    Feature(
        "insured_employees_trend",
        "参保人数较上年减少",
        "insured employees fell against the year before",
        -1,
    ),
    Feature(
        "insured_employees_change_12m",
        "参保人数较12个月前减少",
        "fewer insured employees than 12 months earlier",
        -1,
    ),
    Feature(
        "social_contrib_12m_yuan",
        "近12个月社保缴费额偏低",
        "low social insurance contributions over the last year",
    ),
    Feature("social_arrears_yuan", "存在社保欠费", "social insurance contributions in arrears", 1),
    Feature(
        "social_arrears_months_12m",
        "近12个月多次社保欠费",
        "months in social insurance arrears in the last year",
        1,
    ),
    Feature(
        "social_arrears_months_6m",
        "近6个月存在社保欠费",
        "social insurance arrears in the last 6 months",
        1,
    ),
    # housing fund
    Feature("housing_contributors", "公积金缴存人数少", "few housing fund contributors"),
    Feature(
        "housing_amount_12m_yuan",
        "近12个月公积金缴存额偏低",
        "low housing fund deposits over the last year",
    ),
    Feature(
        "housing_amount_trend",
        "公积金缴存额较上年下降",
        "housing fund deposits fell against the year before",
    ),
    # utilities
    Feature("electricity_12m_kwh", "近12个月用电量偏低", "low electricity use over the last year"),
    Feature(
        "electricity_trend",
        "用电量较上年下降",
        "electricity use fell against the year before",
    ),
    Feature(
        "electricity_drop_3m_yoy",
        "近3个月用电量较上年同期下降",
        "electricity use in the last 3 months fell against the same months a year earlier",
        -1,
    ),
    Feature(
        "electricity_trend_6m",
        "近6个月用电量较前6个月下降",
        "electricity use in the last 6 months fell against the 6 before",
        -1,
    ),
    Feature("water_trend", "用水量较上年下降", "water use fell against the year before"),
    Feature(
        "water_drop_3m_yoy",
        "近3个月用水量较上年同期下降",
        "water use in the last 3 months fell against the same months a year earlier",
    ),
    Feature("utility_overdue_yuan", "存在水电欠费", "overdue utility bills", 1),
    Feature(
        "utility_overdue_months_12m",
        "近12个月多次水电欠费",
        "months with overdue utility bills in the last year",
        1,
    ),
    Feature(
        "utility_overdue_months_6m",
        "近6个月存在水电欠费",
        "overdue utility bills in the last 6 months",
        1,
    ),
    # customs
    Feature("exports_12m_yuan", "近12个月出口额偏低", "low exports over the last year"),
    Feature("imports_12m_yuan", "近12个月进口额偏低", "low imports over the last year"),
    Feature(
        "customs_trade_trend", "进出口额较上年下降", "foreign trade fell against the year before"
    ),
    Feature("customs_credit_rank", "海关信用等级较低", "low customs credit grade", 1),
    # court and enforcement records
    Feature(
        "court_cases_defendant_24m",
        "近24个月作为被告的诉讼多",
        "court cases as defendant in the last 24 months",
        1,
    ),
    Feature(
        "court_cases_defendant_all", "历史作为被告的诉讼多", "court cases as defendant on record", 1
    ),
    Feature(
        "court_amount_defendant_24m_yuan",
        "近24个月被诉标的金额大",
        "large amounts claimed against it in the last 24 months",
        1,
    ),
    Feature("enforcement_cases_all", "存在被执行记录", "subject to enforcement", 1),
    Feature("open_cases_defendant", "存在未结诉讼", "open court cases as defendant", 1),
    Feature("dishonest_debtor", "被列为失信被执行人", "on the dishonest-debtor list", 1),
    # administrative penalties
    Feature(
        "penalties_24m", "近24个月受到行政处罚", "administrative penalties in the last 24 months", 1
    ),
    Feature(
        "penalties_12m", "近12个月受到行政处罚", "administrative penalties in the last 12 months", 1
    ),
    Feature(
        "penalties_amount_24m_yuan",
        "近24个月行政罚款金额大",
        "large fines in the last 24 months",
        1,
    ),
    Feature(
        "penalties_severe_all",
        "受到责令停产停业或吊销许可处罚",
        "ordered to suspend business or licence revoked",
        1,
    ),
    # intellectual property and public procurement
    Feature("ip_count_all", "知识产权少", "few patents, trademarks or copyrights"),
    Feature("invention_patents_all", "发明专利少", "few invention patents"),
    Feature("procurement_awards_24m", "近24个月政府采购中标少", "few public tenders won recently"),
    Feature(
        "procurement_amount_24m_yuan",
        "近24个月政府采购中标金额低",
        "low public procurement revenue recently",
    ),
    # registration and registry attributes
    Feature(
        "registration_changes_12m",
        "近12个月工商登记变更频繁",
        "frequent registration changes in the last year",
    ),
    Feature("reported_employees", "年报从业人数少", "few employees in the annual report"),
    Feature("reported_revenue_yuan", "年报营业收入低", "low revenue in the annual report"),
    Feature("age_years", "企业成立时间短", "young enterprise"),
    Feature("registered_capital_yuan", "注册资本低", "low registered capital"),
    Feature("size_class", "企业规模类型风险较高", "higher-risk size class", categorical=True),
    Feature("industry_section", "所属行业风险较高", "higher-risk industry", categorical=True),
    Feature("city_code", "所在地市风险较高", "higher-risk city", categorical=True),
    # the enterprise's industry
    Feature(
        "industry_employment_index",
        "所属行业就业景气低于常年水平",
        "employment in its industry is below its usual level",
        -1,
    ),
    # the application
    Feature(
        "amount_to_revenue",
        "申请金额相对营业收入偏高",
        "amount applied for is high relative to the revenue reported",
        1,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.categorical)
BY_NAME: Mapping[str, Feature] = {f.name: f for f in FEATURES}
# Inputs that describe the application, not the enterprise: missing without one.
APPLICATION_FEATURES: tuple[str, ...] = ("amount_to_revenue",)
# Added to the reported revenue (yuan) in the amount ratio, so that a zero or missing
# revenue gives a large but finite ratio.
REVENUE_FLOOR_YUAN = 10_000.0
