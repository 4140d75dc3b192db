"""Point-in-time credit features from the government data tables.

An enterprise's features as of a date use only records dated strictly before it: monthly
categories up to the month before the as-of month (a month is complete only once it has
ended), event categories up to the day before. Windows are the 24 complete months before
the as-of month (monthly data) and 365 / 730 days before the as-of date (events).

Two ways in, one computation: ``batch_features`` reads many enterprises (each with its
own as-of date) with one query per table and pandas joins; ``enterprise_features`` reads
one enterprise with small indexed queries and no pandas. Both turn the rows into the same
arrays (a ``[n, 24]`` monthly panel per measure, event arrays tagged with the request they
belong to) and call ``_compute``, so they agree exactly. Sums are of integer fen or counts,
exact in float64, so their order cannot change a result.

Registry attributes (founding date, capital, size class, industry, city) come from the
enterprise registry, which holds the latest registration snapshot: they are treated as
static attributes of the enterprise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

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
    Feature("age_years", "企业成立时间短", "young enterprise"),
    Feature("registered_capital_yuan", "注册资本低", "low registered capital"),
    Feature("size_class", "企业规模类型风险较高", "higher-risk size class", categorical=True),
    Feature("industry_section", "所属行业风险较高", "higher-risk industry", categorical=True),
    Feature("city_code", "所在地市风险较高", "higher-risk city", categorical=True),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.categorical)
BY_NAME: Mapping[str, Feature] = {f.name: f for f in FEATURES}

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

# Event tables: table -> (date column, other columns read).
EVENTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "judicial": (
        "filed_on",
        ("case_type", "role", "amount_fen", "closed_on", "dishonest_debtor"),
    ),
    "penalties": ("decided_on", ("penalty_type", "amount_fen")),
    "ip": ("granted_on", ("ip_type",)),
    "procurement": ("awarded_on", ("amount_fen",)),
    "registration": ("event_date", ("event_type",)),
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
    """Everything ``_compute`` needs for ``n`` requests."""

    n: int
    as_of_day: NDArray[np.int64]
    panels: dict[str, Array]
    events: dict[str, _Events]
    founded_day: Array
    capital_fen: Array
    categories: dict[str, list[str | None]]


# ---------------------------------------------------------------- shared computation


def _window_sum(panel: Array, start: int, stop: int) -> Array:
    window = panel[:, start:stop]
    present = (~np.isnan(window)).sum(axis=1)
    total = np.nansum(window, axis=1)
    return np.where(present > 0, total, np.nan)


def _window_mean(panel: Array, start: int, stop: int) -> Array:
    window = panel[:, start:stop]
    present = (~np.isnan(window)).sum(axis=1)
    total = np.nansum(window, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, total / np.maximum(present, 1), np.nan)


def _count(
    panel: Array, start: int, stop: int, *, above: float = 0.0, equal: bool = False
) -> Array:
    """Months in the window whose value is above ``above`` (or equal to it), NaN when the
    window holds no data at all."""
    window = panel[:, start:stop]
    present = (~np.isnan(window)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        hits = (window == above) if equal else (window > above)
    return np.where(present > 0, hits.sum(axis=1).astype(np.float64), np.nan)


def _latest(panel: Array) -> Array:
    present = ~np.isnan(panel)
    last = panel.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    values = panel[np.arange(panel.shape[0]), last]
    return np.where(present.any(axis=1), values, np.nan)


def _change(recent: Array, prior: Array) -> Array:
    """Symmetric relative change in [-1, 1]; 0 when both are zero, NaN when either is
    unknown."""
    total = recent + prior
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(total > 0, (recent - prior) / np.where(total > 0, total, 1.0), 0.0)
    return np.where(np.isnan(total), np.nan, change)


def _volatility(panel: Array, start: int, stop: int) -> Array:
    """Sum of absolute month-on-month changes over the sum of the months: integer
    arithmetic until the one division, so exact whatever the summation order."""
    window = panel[:, start:stop]
    steps = np.abs(np.diff(window, axis=1))
    step_total = np.nansum(steps, axis=1)
    steps_present = (~np.isnan(steps)).sum(axis=1)
    level = np.nansum(window, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = step_total / np.where(level > 0, level, 1.0)
    return np.where((steps_present >= 2) & (level > 0), ratio, np.nan)


def _tally(
    events: _Events, n: int, mask: NDArray[np.bool_], weights: NDArray[Any] | None = None
) -> Array:
    chosen = events.request[mask]
    if weights is None:
        counts: Array = np.bincount(chosen, minlength=n).astype(np.float64)
        return counts
    sums = np.bincount(chosen, weights=weights[mask].astype(np.float64), minlength=n)
    return sums.astype(np.float64)


def _compute(raw: _Raw) -> dict[str, Array | list[str | None]]:
    n = raw.n
    p = raw.panels
    out: dict[str, Array | list[str | None]] = {}
    last12, prior12 = (12, 24), (0, 12)

    tax = p["tax_total"]
    out["tax_paid_12m_yuan"] = _window_sum(tax, *last12) / 100
    out["tax_paid_trend"] = _change(_window_mean(tax, *last12), _window_mean(tax, *prior12))
    out["tax_paid_3m_yoy"] = _change(_window_mean(tax, 21, 24), _window_mean(tax, 9, 12))
    out["tax_volatility_12m"] = _volatility(tax, *last12)
    out["tax_zero_months_12m"] = _count(tax, *last12, equal=True)
    out["tax_months_reported_12m"] = (~np.isnan(tax[:, 12:24])).sum(axis=1).astype(np.float64)
    out["tax_arrears_yuan"] = _latest(p["tax_arrears"]) / 100
    out["tax_arrears_months_12m"] = _count(p["tax_arrears"], *last12)
    out["tax_rating_rank"] = _latest(p["tax_rating"])

    employees = p["si_employees"]
    out["insured_employees"] = _latest(employees)
    out["insured_employees_trend"] = _change(
        _window_mean(employees, *last12), _window_mean(employees, *prior12)
    )
    out["social_contrib_12m_yuan"] = _window_sum(p["si_contrib"], *last12) / 100
    out["social_arrears_yuan"] = _latest(p["si_arrears"]) / 100
    out["social_arrears_months_12m"] = _count(p["si_arrears"], *last12)

    housing = p["hf_amount"]
    out["housing_contributors"] = _latest(p["hf_contributors"])
    out["housing_amount_12m_yuan"] = _window_sum(housing, *last12) / 100
    out["housing_amount_trend"] = _change(
        _window_mean(housing, *last12), _window_mean(housing, *prior12)
    )

    power, water = p["electricity"], p["water"]
    out["electricity_12m_kwh"] = _window_sum(power, *last12)
    out["electricity_trend"] = _change(_window_mean(power, *last12), _window_mean(power, *prior12))
    out["electricity_drop_3m_yoy"] = _change(
        _window_mean(power, 21, 24), _window_mean(power, 9, 12)
    )
    out["water_trend"] = _change(_window_mean(water, *last12), _window_mean(water, *prior12))
    out["water_drop_3m_yoy"] = _change(_window_mean(water, 21, 24), _window_mean(water, 9, 12))
    out["utility_overdue_yuan"] = _latest(p["util_overdue"]) / 100
    out["utility_overdue_months_12m"] = _count(p["util_overdue"], *last12)

    trade = p["imports"] + p["exports"]
    out["exports_12m_yuan"] = _window_sum(p["exports"], *last12) / 100
    out["imports_12m_yuan"] = _window_sum(p["imports"], *last12) / 100
    out["customs_trade_trend"] = _change(
        _window_mean(trade, *last12), _window_mean(trade, *prior12)
    )
    out["customs_credit_rank"] = _latest(p["customs_credit"])

    as_of = raw.as_of_day

    court = raw.events["judicial"]
    court_as_of = as_of[court.request]
    adverse = np.isin(court.columns["role"], ADVERSE_ROLES)
    recent = court.day >= court_as_of - DAYS_24M
    closed_on = court.columns["closed_on"]
    still_open = (closed_on < 0) | (closed_on >= court_as_of)
    out["court_cases_defendant_24m"] = _tally(court, n, adverse & recent)
    out["court_cases_defendant_all"] = _tally(court, n, adverse)
    out["court_amount_defendant_24m_yuan"] = (
        _tally(court, n, adverse & recent, court.columns["amount_fen"]) / 100
    )
    out["enforcement_cases_all"] = _tally(
        court,
        n,
        (court.columns["case_type"] == "enforcement") & (court.columns["role"] == "respondent"),
    )
    out["open_cases_defendant"] = _tally(court, n, adverse & still_open)
    out["dishonest_debtor"] = np.minimum(
        _tally(court, n, court.columns["dishonest_debtor"] > 0), 1.0
    )

    penalties = raw.events["penalties"]
    recent = penalties.day >= as_of[penalties.request] - DAYS_24M
    out["penalties_24m"] = _tally(penalties, n, recent)
    out["penalties_amount_24m_yuan"] = (
        _tally(penalties, n, recent, penalties.columns["amount_fen"]) / 100
    )
    out["penalties_severe_all"] = _tally(
        penalties, n, np.isin(penalties.columns["penalty_type"], SEVERE_PENALTIES)
    )

    ip = raw.events["ip"]
    everything = np.ones(ip.day.shape, dtype=bool)
    out["ip_count_all"] = _tally(ip, n, everything)
    out["invention_patents_all"] = _tally(ip, n, ip.columns["ip_type"] == "invention_patent")

    awards = raw.events["procurement"]
    recent = awards.day >= as_of[awards.request] - DAYS_24M
    out["procurement_awards_24m"] = _tally(awards, n, recent)
    out["procurement_amount_24m_yuan"] = (
        _tally(awards, n, recent, awards.columns["amount_fen"]) / 100
    )

    registration = raw.events["registration"]
    recent = registration.day >= as_of[registration.request] - DAYS_12M
    out["registration_changes_12m"] = _tally(
        registration, n, recent & (registration.columns["event_type"] == "change")
    )

    out["age_years"] = (as_of - raw.founded_day) / 365.25
    out["registered_capital_yuan"] = raw.capital_fen / 100
    for name in CATEGORICAL:
        out[name] = raw.categories[name]
    return out


# ---------------------------------------------------------------- SQL


def _monthly_columns(table_name: str) -> list[str]:
    columns: list[str] = []
    for table, sources in MONTHLY.values():
        if table == table_name:
            columns += [c for c in sources if c not in columns]
    return columns


def _panel_value(measure: str, row: Any) -> float:
    _, sources = MONTHLY[measure]
    if measure in RANKS:
        value = row[sources[0]]
        return RANKS[measure].get(value, np.nan) if value is not None else np.nan
    total = 0
    for column in sources:
        if row[column] is None:
            return np.nan
        total += row[column]
    return float(total)


def _event_select(table: Table, date_column: str, columns: Sequence[str]) -> Select[Any]:
    return select(table.c.uscc, table.c[date_column], *(table.c[c] for c in columns))


# ---------------------------------------------------------------- one enterprise


def enterprise_features(session: Session, uscc: str, as_of: dt.date) -> dict[str, Any]:
    """The feature values of one enterprise as of ``as_of``: numbers (NaN when unknown) and,
    for categorical features, strings (None when unknown)."""
    months_end = month_index(as_of)
    first = month_start(months_end - MONTHS)
    end = month_start(months_end)
    panels = {measure: np.full((1, MONTHS), np.nan) for measure in MONTHLY}
    for table_name in MONTHLY_TABLES:
        table = data_table(table_name)
        columns = _monthly_columns(table_name)
        monthly_rows = session.execute(
            select(table.c.period, *(table.c[c] for c in columns)).where(
                table.c.uscc == uscc, table.c.period >= first, table.c.period < end
            )
        ).mappings()
        for row in monthly_rows:
            offset = month_index(row["period"]) - (months_end - MONTHS)
            for measure, (measure_table, _) in MONTHLY.items():
                if measure_table == table_name:
                    panels[measure][0, offset] = _panel_value(measure, row)

    events = {}
    for table_name, (date_column, event_columns) in EVENTS.items():
        table = data_table(table_name)
        event_rows = session.execute(
            _event_select(table, date_column, event_columns).where(
                table.c.uscc == uscc, table.c[date_column] < as_of
            )
        ).all()
        events[table_name] = _events_from_rows(event_rows, event_columns)

    enterprise = session.execute(
        select(
            Enterprise.founded_on,
            Enterprise.registered_capital_fen,
            Enterprise.size_class,
            Enterprise.industry_section,
            Enterprise.city_code,
        ).where(Enterprise.uscc == uscc)
    ).one_or_none()
    categories: dict[str, list[str | None]]
    if enterprise is None:
        founded, capital = np.nan, np.nan
        categories = {name: [None] for name in CATEGORICAL}
    else:
        founded = float(day_number(enterprise.founded_on))
        capital = float(enterprise.registered_capital_fen)
        categories = {
            "size_class": [enterprise.size_class],
            "industry_section": [enterprise.industry_section],
            "city_code": [enterprise.city_code],
        }
    raw = _Raw(
        n=1,
        as_of_day=np.array([day_number(as_of)], dtype=np.int64),
        panels=panels,
        events=events,
        founded_day=np.array([founded]),
        capital_fen=np.array([capital]),
        categories=categories,
    )
    computed = _compute(raw)
    return {name: computed[name][0] for name in FEATURE_NAMES}


def _events_from_rows(rows: Sequence[Any], columns: Sequence[str]) -> _Events:
    count = len(rows)
    extracted: dict[str, NDArray[Any]] = {}
    for position, column in enumerate(columns, start=2):
        values = [row[position] for row in rows]
        extracted[column] = _event_column(column, values)
    return _Events(
        request=np.zeros(count, dtype=np.int64),
        day=np.array([day_number(row[1]) for row in rows], dtype=np.int64),
        columns=extracted,
    )


def _event_column(column: str, values: Sequence[Any]) -> NDArray[Any]:
    """Event columns as arrays: amounts in fen (NULL = 0), dates as day numbers (NULL =
    -1), flags as 0/1, text as objects."""
    if column.endswith("_fen"):
        return np.array([0 if _missing(v) else v for v in values], dtype=np.float64)
    if column == "closed_on":
        return np.array(
            [-1 if _missing(v) else day_number(pd.Timestamp(v).date()) for v in values],
            dtype=np.int64,
        )
    if column == "dishonest_debtor":
        return np.array([0 if _missing(v) or not v else 1 for v in values], dtype=np.int64)
    return np.array([None if _missing(v) else v for v in values], dtype=object)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


# ---------------------------------------------------------------- many enterprises


def batch_features(session: Session, requests: pd.DataFrame) -> pd.DataFrame:
    """Features for many (enterprise, as-of date) pairs at once.

    ``requests`` has columns ``uscc`` and ``as_of`` (dates); the result has one row per
    request, in the same order and with the same index, and one column per feature.
    """
    n = len(requests)
    usccs = requests["uscc"].astype(str).to_numpy()
    as_of_days = _day_numbers(requests["as_of"]).astype(np.int64)
    months_end = _month_numbers(requests["as_of"])
    if n == 0:
        return pd.DataFrame(columns=list(FEATURE_NAMES), index=requests.index)
    first_month = month_start(int(months_end.min()) - MONTHS)
    last_day = EPOCH + dt.timedelta(days=int(as_of_days.max()))
    distinct = sorted(set(usccs))
    keys = pd.DataFrame(
        {"uscc": usccs, "request": np.arange(n), "months_end": months_end, "as_of_day": as_of_days}
    )

    panels = {measure: np.full((n, MONTHS), np.nan) for measure in MONTHLY}
    for table_name in MONTHLY_TABLES:
        table = data_table(table_name)
        columns = _monthly_columns(table_name)
        query = select(table.c.uscc, table.c.period, *(table.c[c] for c in columns)).where(
            table.c.period >= first_month, table.c.period < last_day
        )
        rows = _fetch(session, _restrict(query, table, distinct), ["uscc", "period", *columns])
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
            panels[measure][request, offset] = values

    events = {}
    for table_name, (date_column, event_columns) in EVENTS.items():
        table = data_table(table_name)
        query = _event_select(table, date_column, event_columns).where(
            table.c[date_column] < last_day
        )
        rows = _fetch(session, _restrict(query, table, distinct), ["uscc", "day", *event_columns])
        joined = rows.merge(keys, on="uscc")
        day = _day_numbers(joined["day"])
        keep = day < joined["as_of_day"].to_numpy()
        joined, day = joined[keep], day[keep]
        events[table_name] = _Events(
            request=joined["request"].to_numpy(dtype=np.int64),
            day=day.astype(np.int64),
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
        ),
        ["uscc", "founded_on", "capital", *CATEGORICAL],
    ).set_index("uscc")
    attributes = registry.reindex(usccs)
    founded = np.array(
        [np.nan if pd.isna(d) else float(day_number(d)) for d in attributes["founded_on"]]
    )
    raw = _Raw(
        n=n,
        as_of_day=as_of_days,
        panels=panels,
        events=events,
        founded_day=founded,
        capital_fen=attributes["capital"].to_numpy(dtype=np.float64, na_value=np.nan),
        categories={
            name: [None if pd.isna(v) else str(v) for v in attributes[name]] for name in CATEGORICAL
        },
    )
    computed = _compute(raw)
    frame = pd.DataFrame(index=requests.index)
    for name in FEATURE_NAMES:
        values = computed[name]
        frame[name] = pd.Series(
            values, index=requests.index, dtype=object if name in CATEGORICAL else np.float64
        )
    return frame


IN_LIST_LIMIT = 500


def _restrict(query: Any, table: Any, usccs: Sequence[str]) -> Any:
    """Limit a query to the requested enterprises: an IN list when they are few, their
    USCC range otherwise (the join with the requests drops the others)."""
    if len(usccs) <= IN_LIST_LIMIT:
        return query.where(table.c.uscc.in_(usccs))
    return query.where(table.c.uscc >= usccs[0], table.c.uscc <= usccs[-1])


def _fetch(session: Session, query: Select[Any], names: list[str]) -> pd.DataFrame:
    rows = session.execute(query).all()
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
