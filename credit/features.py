"""Point-in-time credit features from the government data tables.

An enterprise's features as of a date use only records dated strictly before it: monthly
categories up to the month before the as-of month (a month is complete only once it has
ended), event categories up to the day before. Windows are the 24 complete months before
the as-of month (monthly data) and 365 / 730 days before the as-of date (events).

Two ways in, checked against each other: ``batch_features`` reads many enterprises (each
with its own as-of date) with one query per table and pandas joins, turns the rows into
arrays (a ``[n, 24]`` monthly panel per measure, event arrays tagged with the request they
belong to) and calls ``_compute`` (numpy over all requests at once);
``enterprise_features``, the online path, reads one enterprise in one round trip and
calls ``_compute_one`` (scalar Python, the same operations). Sums are of integer fen or
counts, exact in float64, so their order cannot change a result and the two agree
exactly (tested).

Registry attributes (founding date, capital, size class, industry, city) come from the
enterprise registry, which holds the latest registration snapshot: they are treated as
static attributes of the enterprise.

One input belongs to the application rather than the enterprise: the amount applied for,
relative to the revenue of the latest annual report (``APPLICATION_FEATURES``). It is
known at decision time (it is what the enterprise asks for); without an application (a
profile score) it is missing. One describes the enterprise's industry: the industry
employment index of its section in the latest month before the as-of month
(``credit.industry``), read from the small table ``credit_industry_index``, so neither
path aggregates over other enterprises.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import Boolean, Date, Float, String, select
from sqlalchemy.orm import Session

from credit.industry import STALE_MONTHS
from credit.models import IndustryIndex
from finance.enterprises.models import Enterprise
from finance.govdata.models import data_table

Array = NDArray[np.float64]

MONTHS = 24  # panel width: the 24 complete months before the as-of month
DAYS_12M = 365
DAYS_24M = 730
EPOCH = dt.date(1970, 1, 1)

TAX_RATING_RANK = {"A": 1.0, "B": 2.0, "M": 3.0, "C": 4.0, "D": 5.0}
CUSTOMS_CREDIT_RANK = {"aeo_advanced": 1.0, "general": 2.0, "dishonest": 3.0}
ADVERSE_ROLES = ("defendant", "respondent")
SEVERE_PENALTIES = ("suspension", "licence_revocation")


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

# Monthly measures read into panels: name -> (table, column or columns summed).
MONTHLY: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "tax_total": ("tax", ("vat_paid_fen", "cit_paid_fen", "iit_withheld_fen", "other_paid_fen")),
    "tax_arrears": ("tax", ("arrears_fen",)),
    "tax_rating": ("tax", ("credit_rating",)),
    "si_employees": ("social_insurance", ("insured_employees",)),
    "si_contrib": ("social_insurance", ("contributions_paid_fen",)),
    "si_arrears": ("social_insurance", ("arrears_fen",)),
    "hf_contributors": ("housing_fund", ("contributors",)),
    "hf_amount": ("housing_fund", ("amount_fen",)),
    "electricity": ("utilities", ("electricity_kwh",)),
    "water": ("utilities", ("water_m3",)),
    "util_overdue": ("utilities", ("overdue_bills_fen",)),
    "imports": ("customs", ("import_value_fen",)),
    "exports": ("customs", ("export_value_fen",)),
    "customs_credit": ("customs", ("customs_credit",)),
}
RANKS: Mapping[str, Mapping[str, float]] = {
    "tax_rating": TAX_RATING_RANK,
    "customs_credit": CUSTOMS_CREDIT_RANK,
}
MONTHLY_TABLES: tuple[str, ...] = tuple(dict.fromkeys(t for t, _ in MONTHLY.values()))

# Event columns kept as numbers with NaN for missing (other amounts count NULL as 0).
NULLABLE_NUMBERS = ("employees", "revenue_fen")

# Event tables: table -> (date column, other columns read).
EVENTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "judicial": (
        "filed_on",
        ("case_type", "role", "amount_fen", "closed_on", "dishonest_debtor"),
    ),
    "penalties": ("decided_on", ("penalty_type", "amount_fen")),
    "ip": ("granted_on", ("ip_type",)),
    "procurement": ("awarded_on", ("amount_fen",)),
    "registration": ("event_date", ("event_type", "employees", "revenue_fen")),
}


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


@dataclass(slots=True)
class _Events:
    """Rows of one event table, each tagged with the index of the request it belongs to."""

    request: NDArray[np.int64]
    day: NDArray[np.int64]
    columns: dict[str, NDArray[Any]]


@dataclass(slots=True)
class _Raw:
    """Everything ``_compute`` needs for ``n`` requests: a ``[n, measures, 24]`` monthly
    panel (NaN where a month has no record), event rows, registry attributes."""

    n: int
    as_of_day: NDArray[np.int64]
    amount_fen: Array  # the amount applied for, NaN without an application
    industry: Array  # the industry employment index of the request's section and month
    panel: Array
    events: dict[str, _Events]
    founded_day: Array
    capital_fen: Array
    categories: dict[str, list[str | None]]


# ---------------------------------------------------------------- shared computation

MEASURES: tuple[str, ...] = (*MONTHLY, "trade")  # trade = imports + exports, derived
M = {name: i for i, name in enumerate(MEASURES)}


def _divide(numerator: Array, denominator: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        result: Array = numerator / np.where(denominator > 0, denominator, 1.0)
    return result


def _change(recent: Array, prior: Array) -> Array:
    """Symmetric relative change in [-1, 1]; 0 when both are zero, NaN when either is
    unknown."""
    total = recent + prior
    change = np.where(total > 0, _divide(recent - prior, total), 0.0)
    return np.where(np.isnan(total), np.nan, change)


def _compute(raw: _Raw) -> dict[str, Any]:
    """The features of ``raw.n`` requests. One numpy expression per statistic over all
    measures at once keeps the single-enterprise path cheap."""
    n, panel = raw.n, raw.panel
    panel[:, M["trade"], :] = panel[:, M["imports"], :] + panel[:, M["exports"], :]
    present = ~np.isnan(panel)
    filled = np.where(present, panel, 0.0)

    def window(start: int, stop: int) -> tuple[Array, Array, Array]:
        count = present[:, :, start:stop].sum(axis=2).astype(np.float64)
        total = filled[:, :, start:stop].sum(axis=2)
        return np.where(count > 0, total, np.nan), _divide(total, count), count

    sum12, mean12, count12 = window(12, 24)
    mean12 = np.where(count12 > 0, mean12, np.nan)
    _, mean0, count0 = window(0, 12)
    mean0 = np.where(count0 > 0, mean0, np.nan)
    _, mean3, count3 = window(21, 24)
    mean3 = np.where(count3 > 0, mean3, np.nan)
    _, mean_year_ago, count_year_ago = window(9, 12)
    mean_year_ago = np.where(count_year_ago > 0, mean_year_ago, np.nan)
    _, mean6, count6 = window(18, 24)
    mean6 = np.where(count6 > 0, mean6, np.nan)
    _, mean_prior6, count_prior6 = window(12, 18)
    mean_prior6 = np.where(count_prior6 > 0, mean_prior6, np.nan)
    trend = _change(mean12, mean0)
    trend6 = _change(mean6, mean_prior6)
    yoy3 = _change(mean3, mean_year_ago)
    year_change = _change(panel[:, :, 23], panel[:, :, 11])
    last = panel.shape[2] - 1 - np.argmax(present[:, :, ::-1], axis=2)
    latest = np.take_along_axis(panel, last[:, :, None], axis=2)[:, :, 0]
    latest = np.where(present.any(axis=2), latest, np.nan)
    recent = panel[:, :, 12:24]
    with np.errstate(invalid="ignore"):
        positive = np.where(count12 > 0, (recent > 0).sum(axis=2), np.nan)
        zero = np.where(count12 > 0, (recent == 0).sum(axis=2), np.nan)
        positive6 = np.where(count6 > 0, (panel[:, :, 18:24] > 0).sum(axis=2), np.nan)

    tax = M["tax_total"]
    steps = np.abs(np.diff(panel[:, tax, 12:24], axis=1))
    steps_present = ~np.isnan(steps)
    step_total = np.where(steps_present, steps, 0.0).sum(axis=1)
    level = filled[:, tax, 12:24].sum(axis=1)
    volatility = np.where(
        (steps_present.sum(axis=1) >= 2) & (level > 0), _divide(step_total, level), np.nan
    )

    out: dict[str, Any] = {
        "tax_paid_12m_yuan": sum12[:, tax] / 100,
        "tax_paid_trend": trend[:, tax],
        "tax_paid_trend_6m": trend6[:, tax],
        "tax_paid_3m_yoy": yoy3[:, tax],
        "tax_volatility_12m": volatility,
        "tax_zero_months_12m": zero[:, tax],
        "tax_months_reported_12m": count12[:, tax],
        "tax_arrears_yuan": latest[:, M["tax_arrears"]] / 100,
        "tax_arrears_months_12m": positive[:, M["tax_arrears"]],
        "tax_arrears_months_6m": positive6[:, M["tax_arrears"]],
        "tax_rating_rank": latest[:, M["tax_rating"]],
        "insured_employees": latest[:, M["si_employees"]],
        "insured_employees_trend": trend[:, M["si_employees"]],
        "insured_employees_change_12m": year_change[:, M["si_employees"]],
        "social_contrib_12m_yuan": sum12[:, M["si_contrib"]] / 100,
        "social_arrears_yuan": latest[:, M["si_arrears"]] / 100,
        "social_arrears_months_12m": positive[:, M["si_arrears"]],
        "social_arrears_months_6m": positive6[:, M["si_arrears"]],
        "housing_contributors": latest[:, M["hf_contributors"]],
        "housing_amount_12m_yuan": sum12[:, M["hf_amount"]] / 100,
        "housing_amount_trend": trend[:, M["hf_amount"]],
        "electricity_12m_kwh": sum12[:, M["electricity"]],
        "electricity_trend": trend[:, M["electricity"]],
        "electricity_drop_3m_yoy": yoy3[:, M["electricity"]],
        "electricity_trend_6m": trend6[:, M["electricity"]],
        "water_trend": trend[:, M["water"]],
        "water_drop_3m_yoy": yoy3[:, M["water"]],
        "utility_overdue_yuan": latest[:, M["util_overdue"]] / 100,
        "utility_overdue_months_12m": positive[:, M["util_overdue"]],
        "utility_overdue_months_6m": positive6[:, M["util_overdue"]],
        "exports_12m_yuan": sum12[:, M["exports"]] / 100,
        "imports_12m_yuan": sum12[:, M["imports"]] / 100,
        "customs_trade_trend": trend[:, M["trade"]],
        "customs_credit_rank": latest[:, M["customs_credit"]],
    }

    as_of = raw.as_of_day
    court = raw.events["judicial"]
    court_as_of = as_of[court.request]
    adverse = np.isin(court.columns["role"], ADVERSE_ROLES)
    recent_court = court.day >= court_as_of - DAYS_24M
    closed_on = court.columns["closed_on"]
    still_open = (closed_on < 0) | (closed_on >= court_as_of)
    enforcement = (court.columns["case_type"] == "enforcement") & (
        court.columns["role"] == "respondent"
    )
    out["court_cases_defendant_24m"] = _tally(court, n, adverse & recent_court)
    out["court_cases_defendant_all"] = _tally(court, n, adverse)
    out["court_amount_defendant_24m_yuan"] = (
        _tally(court, n, adverse & recent_court, court.columns["amount_fen"]) / 100
    )
    out["enforcement_cases_all"] = _tally(court, n, enforcement)
    out["open_cases_defendant"] = _tally(court, n, adverse & still_open)
    out["dishonest_debtor"] = np.minimum(
        _tally(court, n, court.columns["dishonest_debtor"] > 0), 1.0
    )

    penalties = raw.events["penalties"]
    recent_penalty = penalties.day >= as_of[penalties.request] - DAYS_24M
    out["penalties_24m"] = _tally(penalties, n, recent_penalty)
    out["penalties_12m"] = _tally(
        penalties, n, penalties.day >= as_of[penalties.request] - DAYS_12M
    )
    out["penalties_amount_24m_yuan"] = (
        _tally(penalties, n, recent_penalty, penalties.columns["amount_fen"]) / 100
    )
    out["penalties_severe_all"] = _tally(
        penalties, n, np.isin(penalties.columns["penalty_type"], SEVERE_PENALTIES)
    )

    ip = raw.events["ip"]
    out["ip_count_all"] = _tally(ip, n, np.ones(ip.day.shape, dtype=bool))
    out["invention_patents_all"] = _tally(ip, n, ip.columns["ip_type"] == "invention_patent")

    awards = raw.events["procurement"]
    recent_award = awards.day >= as_of[awards.request] - DAYS_24M
    out["procurement_awards_24m"] = _tally(awards, n, recent_award)
    out["procurement_amount_24m_yuan"] = (
        _tally(awards, n, recent_award, awards.columns["amount_fen"]) / 100
    )

    registration = raw.events["registration"]
    recent_change = registration.day >= as_of[registration.request] - DAYS_12M
    out["registration_changes_12m"] = _tally(
        registration, n, recent_change & (registration.columns["event_type"] == "change")
    )

    out["reported_employees"] = _latest_event_value(registration, n, "employees")
    out["reported_revenue_yuan"] = _latest_event_value(registration, n, "revenue_fen") / 100
    revenue = np.where(np.isnan(out["reported_revenue_yuan"]), 0.0, out["reported_revenue_yuan"])
    out["amount_to_revenue"] = raw.amount_fen / 100 / (revenue + REVENUE_FLOOR_YUAN)
    out["industry_employment_index"] = raw.industry
    out["age_years"] = (as_of - raw.founded_day) / 365.25
    out["registered_capital_yuan"] = raw.capital_fen / 100
    for name in CATEGORICAL:
        out[name] = raw.categories[name]
    return out


def _latest_event_value(events: _Events, n: int, column: str) -> Array:
    """Per request, the value of ``column`` in its latest event that has one (the largest
    if several share that day); NaN when none has."""
    values = events.columns[column]
    known = ~np.isnan(values)
    request, day, values = events.request[known], events.day[known], values[known]
    last_day = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_day, request, day)
    on_last = day == last_day[request]
    result = np.full(n, -np.inf)
    np.maximum.at(result, request[on_last], values[on_last])
    return np.where(np.isinf(result), np.nan, result)


def _tally(
    events: _Events, n: int, mask: NDArray[np.bool_], weights: NDArray[Any] | None = None
) -> Array:
    chosen = events.request[mask]
    if weights is None:
        counts: Array = np.bincount(chosen, minlength=n).astype(np.float64)
        return counts
    sums = np.bincount(chosen, weights=weights[mask].astype(np.float64), minlength=n)
    return sums.astype(np.float64)


# ---------------------------------------------------------------- reading rows


def _monthly_columns(table_name: str) -> list[str]:
    columns: list[str] = []
    for table, sources in MONTHLY.values():
        if table == table_name:
            columns += [c for c in sources if c not in columns]
    return columns


def _event_column(column: str, values: Sequence[Any]) -> NDArray[Any]:
    """Event columns as arrays: amounts in fen (NULL = 0), dates as day numbers (NULL =
    -1), flags as 0/1, text as objects."""
    if column in NULLABLE_NUMBERS:
        return np.array([np.nan if _missing(v) else v for v in values], dtype=np.float64)
    if column.endswith("_fen"):
        return np.array([0 if _missing(v) else v for v in values], dtype=np.float64)
    if column == "closed_on":
        return np.array(
            [-1 if _missing(v) else day_number(_date(v)) for v in values], dtype=np.int64
        )
    if column == "dishonest_debtor":
        return np.array([0 if _missing(v) or not v else 1 for v in values], dtype=np.int64)
    return np.array([None if _missing(v) else v for v in values], dtype=object)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _month_of(value: Any) -> int:
    """Month index of a period from the driver (ISO text on SQLite, a date elsewhere)."""
    if isinstance(value, str):
        return int(value[:4]) * 12 + int(value[5:7]) - 1
    return int(value.year) * 12 + int(value.month) - 1


def _date(value: Any) -> dt.date:
    """A date from the driver: SQLite's DBAPI gives ISO text, PostgreSQL's a date;
    pandas may hand over a Timestamp."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


# ---------------------------------------------------------------- one enterprise
#
# The online path reads everything about one enterprise in one round trip (one UNION ALL
# over the category tables, the registry and its section's rows of the industry index, as
# driver SQL on the session's connection)
# and computes its features with scalar Python: for a single row, numpy's per-call
# overhead (about 200 calls in ``_compute``) costs more than the arithmetic.
# ``_compute_one`` mirrors ``_compute`` statistic by statistic with the same IEEE
# operations on the same integer-valued floats, so the two paths give identical values;
# tests/credit/test_features.py checks that they do.

REGISTRY_COLUMNS = ("registered_capital_fen", *CATEGORICAL)  # and founded_on as the date
# the SQL type of a kind's NULL
_INT, _FLOAT, _TEXT, _DATE = "BIGINT", "DOUBLE PRECISION", "VARCHAR", "DATE"
_KINDS = (_INT, _FLOAT, _TEXT, _DATE)


@dataclass(frozen=True, slots=True)
class _Branch:
    """One ``SELECT`` of the union: a category table, the registry or the industry index
    of the enterprise's section. Every row carries
    the branch's number and its date first; ``slots`` gives the row position of each
    further column read."""

    table: Any
    date_column: str
    slots: dict[str, int]


def _kind(column: Any) -> str:
    if isinstance(column.type, Date):
        return _DATE
    if isinstance(column.type, String):
        return _TEXT
    if isinstance(column.type, Float):
        return _FLOAT
    return _INT  # integers, and booleans read as 0/1


def _layout() -> tuple[tuple[_Branch, ...], tuple[str, ...]]:
    """The branches (monthly tables, event tables, registry, industry index) and the kind of each
    position of the shared row after the first two. A position holds columns of one kind
    only, and branches without a column there select a NULL of that kind, so PostgreSQL
    can type the union."""
    specs: list[tuple[Any, str, tuple[str, ...]]] = [
        (data_table(name), "period", tuple(_monthly_columns(name))) for name in MONTHLY_TABLES
    ]
    specs += [(data_table(name), date, columns) for name, (date, columns) in EVENTS.items()]
    specs.append((Enterprise.__table__, "founded_on", REGISTRY_COLUMNS))
    specs.append((IndustryIndex.__table__, "period", ("value",)))
    kinds = [[_kind(table.c[c]) for c in columns] for table, _, columns in specs]
    width = {k: max(row.count(k) for row in kinds) for k in _KINDS}
    offsets = itertools.accumulate((width[k] for k in _KINDS[:-1]), initial=2)
    start = dict(zip(_KINDS, offsets, strict=True))
    branches = []
    for (table, date_column, columns), column_kinds in zip(specs, kinds, strict=True):
        used = dict.fromkeys(start, 0)
        slots = {}
        for column, kind in zip(columns, column_kinds, strict=True):
            slots[column] = start[kind] + used[kind]
            used[kind] += 1
        branches.append(_Branch(table, date_column, slots))
    return tuple(branches), tuple(k for k in _KINDS for _ in range(width[k]))


_BRANCHES, _SLOT_KINDS = _layout()
_MONTHLY_BRANCHES = len(MONTHLY_TABLES)
_REGISTRY = len(_BRANCHES) - 2
_INDUSTRY = len(_BRANCHES) - 1
_INDUSTRY_VALUE = _BRANCHES[_INDUSTRY].slots["value"]

# Per monthly branch: (measure index, row positions of its columns, rank map or None).
_BRANCH_MEASURES: tuple[tuple[tuple[int, tuple[int, ...], Mapping[str, float] | None], ...], ...]
_BRANCH_MEASURES = tuple(
    tuple(
        (M[measure], tuple(_BRANCHES[b].slots[c] for c in sources), RANKS.get(measure))
        for measure, (table, sources) in MONTHLY.items()
        if table == table_name
    )
    for b, table_name in enumerate(MONTHLY_TABLES)
)


@functools.cache
def _union_sql(placeholder: str) -> str:
    selects = []
    for number, branch in enumerate(_BRANCHES):
        expressions = [str(number), branch.date_column]
        expressions += [f"CAST(NULL AS {kind})" for kind in _SLOT_KINDS]
        for column, slot in branch.slots.items():
            is_flag = isinstance(branch.table.c[column].type, Boolean)
            expressions[slot] = f"CAST({column} AS INTEGER)" if is_flag else column
        where = f"uscc = {placeholder}"
        if number < _MONTHLY_BRANCHES:
            where += f" AND period >= {placeholder} AND period < {placeholder}"
        elif number < _REGISTRY:
            where += f" AND {branch.date_column} < {placeholder}"
        elif number == _INDUSTRY:
            registry = _BRANCHES[_REGISTRY].table.name
            where = (
                f"section = (SELECT industry_section FROM {registry} WHERE uscc = {placeholder})"
                f" AND period >= {placeholder} AND period < {placeholder}"
            )
        selects.append(f"SELECT {', '.join(expressions)} FROM {branch.table.name} WHERE {where}")
    return "\nUNION ALL\n".join(selects)


@functools.lru_cache(maxsize=64)
def _month_offsets(months_end: int) -> dict[Any, int]:
    """Panel offset of each of the 24 months before ``months_end``, keyed by the period
    as either driver gives it (ISO text from SQLite, a date from PostgreSQL)."""
    offsets: dict[Any, int] = {}
    for offset in range(MONTHS):
        first = month_start(months_end - MONTHS + offset)
        offsets[first] = offsets[first.isoformat()] = offset
    return offsets


_EPOCH_ORDINAL = EPOCH.toordinal()


def _day_of(value: Any) -> int:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10]).toordinal() - _EPOCH_ORDINAL
    return _date(value).toordinal() - _EPOCH_ORDINAL


def enterprise_features(
    session: Session, uscc: str, as_of: dt.date, amount_fen: int | None = None
) -> dict[str, Any]:
    """The feature values of one enterprise as of ``as_of``, applying for ``amount_fen``
    (None: no application): numbers (NaN when unknown) and, for categorical features,
    strings (None when unknown)."""
    connection = session.connection()
    sql = _union_sql("?" if connection.dialect.paramstyle == "qmark" else "%s")
    months_end = month_index(as_of)
    bounds: tuple[Any, ...] = (
        month_start(months_end - MONTHS),
        month_start(months_end),
        as_of,
        month_start(months_end - STALE_MONTHS),
    )
    if connection.dialect.name == "sqlite":
        bounds = tuple(day.isoformat() for day in bounds)  # as SQLite stores dates
    first, end, before, recent = bounds
    parameters = (
        (uscc, first, end) * _MONTHLY_BRANCHES
        + (uscc, before) * len(EVENTS)
        + (uscc,)
        + (uscc, recent, end)
    )
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    finally:
        cursor.close()

    by_branch: list[list[Any]] = [[] for _ in _BRANCHES]
    for row in rows:
        by_branch[row[0]].append(row)

    panel: list[list[float | None]] = [[None] * MONTHS for _ in MEASURES]
    offsets = _month_offsets(months_end)
    origin = months_end - MONTHS
    for number, measures in enumerate(_BRANCH_MEASURES):
        for row in by_branch[number]:
            offset = offsets.get(row[1])
            if offset is None:
                offset = _month_of(row[1]) - origin
            for measure, positions, ranks in measures:
                if ranks is not None:
                    rating = row[positions[0]]
                    panel[measure][offset] = None if rating is None else ranks.get(rating)
                else:
                    # As in the batch path: a missing column makes the month missing.
                    total = 0.0
                    for position in positions:
                        value = row[position]
                        if value is None:
                            break
                        total = total + float(value)
                    else:
                        panel[measure][offset] = total
    events = {name: by_branch[_MONTHLY_BRANCHES + i] for i, name in enumerate(EVENTS)}
    registry = by_branch[_REGISTRY][0] if by_branch[_REGISTRY] else None
    # The section's latest month before the as-of month (the query bounds how far back).
    industry = max(by_branch[_INDUSTRY], key=lambda row: row[1], default=None)
    industry_value = NAN if industry is None else float(industry[_INDUSTRY_VALUE])
    return _compute_one(day_number(as_of), amount_fen, industry_value, panel, events, registry)


def _slot(table: str, column: str) -> int:
    """Row position of an event or registry column in the union."""
    if table == "enterprises":
        return _BRANCHES[_REGISTRY].slots[column]
    return _BRANCHES[_MONTHLY_BRANCHES + list(EVENTS).index(table)].slots[column]


_COURT_ROLE, _COURT_TYPE = _slot("judicial", "role"), _slot("judicial", "case_type")
_COURT_AMOUNT, _COURT_CLOSED = _slot("judicial", "amount_fen"), _slot("judicial", "closed_on")
_COURT_DISHONEST = _slot("judicial", "dishonest_debtor")
_PENALTY_TYPE = _slot("penalties", "penalty_type")
_PENALTY_AMOUNT = _slot("penalties", "amount_fen")
_IP_TYPE = _slot("ip", "ip_type")
_AWARD_AMOUNT = _slot("procurement", "amount_fen")
_EVENT_TYPE = _slot("registration", "event_type")
_EVENT_EMPLOYEES = _slot("registration", "employees")
_EVENT_REVENUE = _slot("registration", "revenue_fen")
_CAPITAL = _slot("enterprises", "registered_capital_fen")
_CATEGORY_SLOTS = tuple(_slot("enterprises", name) for name in CATEGORICAL)
NAN = math.nan


def _window(series: list[float | None], start: int, stop: int) -> tuple[float, float, int]:
    """Sum (NaN when no month is known), mean and count of the known months."""
    known = [v for v in series[start:stop] if v is not None]
    if not known:
        return NAN, NAN, 0
    total = 0.0
    for value in known:
        total += value
    return total, total / len(known), len(known)


def _change_one(recent: float, prior: float) -> float:
    """``_change`` for one pair."""
    total = recent + prior
    if math.isnan(total):
        return NAN
    return (recent - prior) / total if total > 0 else 0.0


def _amount(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _latest_value(rows: list[Any], position: int) -> float:
    """``_latest_event_value`` for one enterprise: the value in its latest event that has
    one (the largest if several share that day), NaN when none has."""
    best_day, best = -1 << 62, NAN
    for row in rows:
        value = row[position]
        if value is None:
            continue
        day = _day_of(row[1])
        if day > best_day:
            best_day, best = day, float(value)
        elif day == best_day and value > best:
            best = float(value)
    return best


def _compute_one(
    as_of: int,
    amount_fen: int | None,
    industry: float,
    panel: list[list[float | None]],
    events: dict[str, list[Any]],
    registry: Any,
) -> dict[str, Any]:
    """The features of one enterprise from its monthly panel (``None`` where a month has
    no record), its event rows (all dated before the as-of date) and its registry row."""
    imports, exports = panel[M["imports"]], panel[M["exports"]]
    panel[M["trade"]] = [
        None if i is None or e is None else i + e for i, e in zip(imports, exports, strict=True)
    ]

    # Only the statistics a feature uses are computed (the batch path computes every
    # statistic for every measure: there it is one numpy call each).
    def mean(measure: int, start: int, stop: int) -> float:
        return _window(panel[measure], start, stop)[1]

    def total12(measure: int) -> float:
        return _window(panel[measure], 12, 24)[0]

    def trend(measure: int) -> float:
        return _change_one(mean(measure, 12, 24), mean(measure, 0, 12))

    def trend6(measure: int) -> float:
        return _change_one(mean(measure, 18, 24), mean(measure, 12, 18))

    def yoy3(measure: int) -> float:
        return _change_one(mean(measure, 21, 24), mean(measure, 9, 12))

    def latest(measure: int) -> float:
        for value in reversed(panel[measure]):
            if value is not None:
                return value
        return NAN

    def year_change(measure: int) -> float:
        recent, prior = panel[measure][23], panel[measure][11]
        return NAN if recent is None or prior is None else _change_one(recent, prior)

    def months(measure: int, start: int, zero: bool = False) -> float:
        """Months from ``start`` to the end with a positive (or a zero) value; NaN when
        none of them is known."""
        known = [v for v in panel[measure][start:24] if v is not None]
        if not known:
            return NAN
        return float(sum(1 for v in known if (v == 0 if zero else v > 0)))

    tax = M["tax_total"]
    recent_tax = panel[tax][12:24]
    step_total, steps, level = 0.0, 0, 0.0
    for before, after in itertools.pairwise(recent_tax):
        if before is not None and after is not None:
            step_total += abs(after - before)
            steps += 1
    for value in recent_tax:
        if value is not None:
            level += value
    volatility = step_total / level if steps >= 2 and level > 0 else NAN

    out: dict[str, Any] = {
        "tax_paid_12m_yuan": total12(tax) / 100,
        "tax_paid_trend": trend(tax),
        "tax_paid_trend_6m": trend6(tax),
        "tax_paid_3m_yoy": yoy3(tax),
        "tax_volatility_12m": volatility,
        "tax_zero_months_12m": months(tax, 12, zero=True),
        "tax_months_reported_12m": float(12 - panel[tax][12:24].count(None)),
        "tax_arrears_yuan": latest(M["tax_arrears"]) / 100,
        "tax_arrears_months_12m": months(M["tax_arrears"], 12),
        "tax_arrears_months_6m": months(M["tax_arrears"], 18),
        "tax_rating_rank": latest(M["tax_rating"]),
        "insured_employees": latest(M["si_employees"]),
        "insured_employees_trend": trend(M["si_employees"]),
        "insured_employees_change_12m": year_change(M["si_employees"]),
        "social_contrib_12m_yuan": total12(M["si_contrib"]) / 100,
        "social_arrears_yuan": latest(M["si_arrears"]) / 100,
        "social_arrears_months_12m": months(M["si_arrears"], 12),
        "social_arrears_months_6m": months(M["si_arrears"], 18),
        "housing_contributors": latest(M["hf_contributors"]),
        "housing_amount_12m_yuan": total12(M["hf_amount"]) / 100,
        "housing_amount_trend": trend(M["hf_amount"]),
        "electricity_12m_kwh": total12(M["electricity"]),
        "electricity_trend": trend(M["electricity"]),
        "electricity_drop_3m_yoy": yoy3(M["electricity"]),
        "electricity_trend_6m": trend6(M["electricity"]),
        "water_trend": trend(M["water"]),
        "water_drop_3m_yoy": yoy3(M["water"]),
        "utility_overdue_yuan": latest(M["util_overdue"]) / 100,
        "utility_overdue_months_12m": months(M["util_overdue"], 12),
        "utility_overdue_months_6m": months(M["util_overdue"], 18),
        "exports_12m_yuan": total12(M["exports"]) / 100,
        "imports_12m_yuan": total12(M["imports"]) / 100,
        "customs_trade_trend": trend(M["trade"]),
        "customs_credit_rank": latest(M["customs_credit"]),
    }

    since_24m, since_12m = as_of - DAYS_24M, as_of - DAYS_12M
    defendant = defendant_24m = enforcement = still_open = dishonest = 0
    claimed = 0.0
    for row in events["judicial"]:
        role = row[_COURT_ROLE]
        adverse = role in ADVERSE_ROLES
        if adverse:
            defendant += 1
            if _day_of(row[1]) >= since_24m:
                defendant_24m += 1
                claimed += _amount(row[_COURT_AMOUNT])
            closed = row[_COURT_CLOSED]
            if closed is None or _day_of(closed) >= as_of:
                still_open += 1
        if row[_COURT_TYPE] == "enforcement" and role == "respondent":
            enforcement += 1
        if row[_COURT_DISHONEST]:
            dishonest += 1
    out["court_cases_defendant_24m"] = float(defendant_24m)
    out["court_cases_defendant_all"] = float(defendant)
    out["court_amount_defendant_24m_yuan"] = claimed / 100
    out["enforcement_cases_all"] = float(enforcement)
    out["open_cases_defendant"] = float(still_open)
    out["dishonest_debtor"] = float(min(dishonest, 1))

    penalties_24m = penalties_12m = severe = 0
    fines = 0.0
    for row in events["penalties"]:
        day = _day_of(row[1])
        if day >= since_24m:
            penalties_24m += 1
            fines += _amount(row[_PENALTY_AMOUNT])
        if day >= since_12m:
            penalties_12m += 1
        if row[_PENALTY_TYPE] in SEVERE_PENALTIES:
            severe += 1
    out["penalties_24m"] = float(penalties_24m)
    out["penalties_12m"] = float(penalties_12m)
    out["penalties_amount_24m_yuan"] = fines / 100
    out["penalties_severe_all"] = float(severe)

    ip = events["ip"]
    out["ip_count_all"] = float(len(ip))
    out["invention_patents_all"] = float(
        sum(1 for row in ip if row[_IP_TYPE] == "invention_patent")
    )

    awards, awarded = 0, 0.0
    for row in events["procurement"]:
        if _day_of(row[1]) >= since_24m:
            awards += 1
            awarded += _amount(row[_AWARD_AMOUNT])
    out["procurement_awards_24m"] = float(awards)
    out["procurement_amount_24m_yuan"] = awarded / 100

    registration = events["registration"]
    out["registration_changes_12m"] = float(
        sum(
            1
            for row in registration
            if row[_EVENT_TYPE] == "change" and _day_of(row[1]) >= since_12m
        )
    )
    out["reported_employees"] = _latest_value(registration, _EVENT_EMPLOYEES)
    out["reported_revenue_yuan"] = _latest_value(registration, _EVENT_REVENUE) / 100
    revenue = out["reported_revenue_yuan"]
    revenue = 0.0 if math.isnan(revenue) else revenue
    amount = NAN if amount_fen is None else float(amount_fen) / 100
    out["amount_to_revenue"] = amount / (revenue + REVENUE_FLOOR_YUAN)
    out["industry_employment_index"] = industry

    if registry is None or registry[1] is None:
        out["age_years"] = NAN
    else:
        out["age_years"] = (as_of - float(_day_of(registry[1]))) / 365.25
    capital = None if registry is None else registry[_CAPITAL]
    out["registered_capital_yuan"] = NAN if capital is None else float(capital) / 100
    for name, slot in zip(CATEGORICAL, _CATEGORY_SLOTS, strict=True):
        value = None if registry is None else registry[slot]
        out[name] = None if value is None else str(value)
    return {name: out[name] for name in FEATURE_NAMES}


# ---------------------------------------------------------------- many enterprises


def batch_features(
    session: Session, requests: pd.DataFrame, *, uscc_range: tuple[str, str] | None = None
) -> pd.DataFrame:
    """Features for many (enterprise, as-of date) pairs at once.

    ``requests`` has columns ``uscc`` and ``as_of`` (dates) and optionally ``amount_fen``
    (the amount applied for; missing or NaN: no application); the result has one row per
    request, in the same order and with the same index, and one column per feature. When
    the requests cover every enterprise of a USCC range (a rescore chunk), ``uscc_range``
    reads the tables by that range instead of by lists of USCCs.
    """
    n = len(requests)
    if n == 0:
        return pd.DataFrame(columns=list(FEATURE_NAMES), index=requests.index)
    usccs = requests["uscc"].astype(str).to_numpy()
    as_of_days = _day_numbers(requests["as_of"])
    months_end = _month_numbers(requests["as_of"])
    first_month = month_start(int(months_end.min()) - MONTHS)
    last_day = EPOCH + dt.timedelta(days=int(as_of_days.max()))
    distinct = sorted(set(usccs))
    keys = pd.DataFrame(
        {"uscc": usccs, "request": np.arange(n), "months_end": months_end, "as_of_day": as_of_days}
    )

    panel = np.full((n, len(MEASURES), MONTHS), np.nan)
    for table_name in MONTHLY_TABLES:
        table = data_table(table_name)
        columns = _monthly_columns(table_name)
        query = select(table.c.uscc, table.c.period, *(table.c[c] for c in columns)).where(
            table.c.period >= first_month, table.c.period < last_day
        )
        rows = _fetch(
            session, _restrict(query, table, distinct, uscc_range), ["uscc", "period", *columns]
        )
        joined = rows.merge(keys, on="uscc")
        offset = _month_numbers(joined["period"]) - (joined["months_end"].to_numpy() - MONTHS)
        keep = (offset >= 0) & (offset < MONTHS)
        joined, offset = joined[keep], offset[keep]
        request = joined["request"].to_numpy()
        for measure, (measure_table, sources) in MONTHLY.items():
            if measure_table != table_name:
                continue
            if measure in RANKS:
                values = joined[sources[0]].map(RANKS[measure]).to_numpy(dtype=np.float64)
            else:
                values = np.zeros(len(joined))
                for column in sources:
                    values = values + joined[column].to_numpy(dtype=np.float64, na_value=np.nan)
            panel[request, M[measure], offset] = values

    events = {}
    for table_name, (date_column, event_columns) in EVENTS.items():
        table = data_table(table_name)
        query = select(
            table.c.uscc, table.c[date_column], *(table.c[c] for c in event_columns)
        ).where(table.c[date_column] < last_day)
        rows = _fetch(
            session, _restrict(query, table, distinct, uscc_range), ["uscc", "day", *event_columns]
        )
        joined = rows.merge(keys, on="uscc")
        day = _day_numbers(joined["day"])
        keep = day < joined["as_of_day"].to_numpy()
        joined, day = joined[keep], day[keep]
        events[table_name] = _Events(
            request=joined["request"].to_numpy(dtype=np.int64),
            day=day,
            columns={c: _event_column(c, joined[c].tolist()) for c in event_columns},
        )

    registry = _fetch(
        session,
        _restrict(
            select(
                Enterprise.uscc,
                Enterprise.founded_on,
                Enterprise.registered_capital_fen,
                Enterprise.size_class,
                Enterprise.industry_section,
                Enterprise.city_code,
            ),
            Enterprise.__table__,
            distinct,
            uscc_range,
        ),
        ["uscc", "founded_on", "capital", *CATEGORICAL],
    ).set_index("uscc")
    attributes = registry.reindex(usccs)
    founded = np.array(
        [
            np.nan if _missing(d) or d is pd.NaT else float(day_number(_date(d)))
            for d in attributes["founded_on"]
        ]
    )
    amounts = (
        requests["amount_fen"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "amount_fen" in requests
        else np.full(n, np.nan)
    )
    raw = _Raw(
        n=n,
        as_of_day=as_of_days,
        amount_fen=amounts,
        industry=_industry_values(session, attributes["industry_section"], months_end),
        panel=panel,
        events=events,
        founded_day=founded,
        capital_fen=attributes["capital"].to_numpy(dtype=np.float64, na_value=np.nan),
        categories={
            name: [None if _missing(v) else str(v) for v in attributes[name]]
            for name in CATEGORICAL
        },
    )
    computed = _compute(raw)
    frame = pd.DataFrame(index=requests.index)
    for name in FEATURE_NAMES:
        frame[name] = pd.Series(
            computed[name],
            index=requests.index,
            dtype=object if name in CATEGORICAL else np.float64,
        )
    return frame


def _industry_values(
    session: Session, sections: pd.Series[Any], months_end: NDArray[np.int64]
) -> Array:
    """Per request, its section's index in the latest month before the as-of month, at
    most ``STALE_MONTHS`` back (NaN without one). The table is small: it is read whole."""
    index: dict[tuple[str, int], float] = {
        (section, _month_of(period)): value
        for section, period, value in session.execute(
            select(IndustryIndex.section, IndustryIndex.period, IndustryIndex.value)
        )
    }
    values = np.full(len(months_end), np.nan)
    for request, (section, end) in enumerate(zip(sections, months_end, strict=True)):
        if _missing(section):
            continue
        for month in range(end - 1, end - 1 - STALE_MONTHS, -1):
            value = index.get((str(section), month))
            if value is not None:
                values[request] = value
                break
    return values


IN_LIST_SIZE = 2000


def _restrict(
    query: Any, table: Any, usccs: Sequence[str], uscc_range: tuple[str, str] | None
) -> list[Any]:
    """The query limited to the requested enterprises: by USCC range, or by IN lists of at
    most ``IN_LIST_SIZE`` (one query each)."""
    if uscc_range is not None:
        return [query.where(table.c.uscc >= uscc_range[0], table.c.uscc <= uscc_range[1])]
    return [
        query.where(table.c.uscc.in_(usccs[i : i + IN_LIST_SIZE]))
        for i in range(0, len(usccs), IN_LIST_SIZE)
    ]


def _fetch(session: Session, queries: list[Any], names: list[str]) -> pd.DataFrame:
    # Plain tuples: pandas probes each Row object for attributes, which is slow.
    rows = [tuple(row) for query in queries for row in session.execute(query)]
    return pd.DataFrame.from_records(rows, columns=names)


def _day_numbers(values: pd.Series[Any]) -> NDArray[np.int64]:
    days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    numbers: NDArray[np.int64] = days.astype(np.int64)
    return numbers


def _month_numbers(values: pd.Series[Any]) -> NDArray[np.int64]:
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    numbers: NDArray[np.int64] = (stamps.year.to_numpy() * 12 + stamps.month.to_numpy() - 1).astype(
        np.int64
    )
    return numbers
