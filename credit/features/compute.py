"""How every feature is computed, for any number of requests at once: one numpy
expression per statistic over all requests and all monthly measures. Online scoring runs
the same computation with one request, so there is one definition of each feature.

Sums are of integer fen or counts, exact in float64. The phrases and directions of the
features are in ``credit.features.catalogue``; the inputs' shape in
``credit.features.inputs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from credit.features.catalogue import CATEGORICAL, DAYS_12M, DAYS_24M, REVENUE_FLOOR_YUAN
from credit.features.inputs import Array, Events, Inputs, M

ADVERSE_ROLES = ("defendant", "respondent")
_WINDOW_STARTS = np.array([12, 0, 21, 9, 18, 12])
_WINDOW_STOPS = np.array([24, 12, 24, 12, 24, 18])
SEVERE_PENALTIES = ("suspension", "licence_revocation")


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


def compute(raw: Inputs) -> dict[str, Any]:
    """The features of ``raw.n`` requests. One numpy expression per statistic over all
    measures at once keeps the single-enterprise path cheap."""
    n, panel = raw.n, raw.panel
    panel[:, M["trade"], :] = panel[:, M["imports"], :] + panel[:, M["exports"], :]
    present = ~np.isnan(panel)
    filled = np.where(present, panel, 0.0)

    # Window sums as differences of running sums: the values are whole numbers (fen,
    # counts, kWh, ranks), so every partial sum is exact in float64 and equals the
    # window's own sum.
    shape = (n, panel.shape[1], 1)
    counts = np.concatenate([np.zeros(shape), np.cumsum(present, axis=2)], axis=2)
    totals = np.concatenate([np.zeros(shape), np.cumsum(filled, axis=2)], axis=2)

    # Every window at once, as [start, stop) month positions (the last month is 23):
    # the last 12 months, the 12 before them, the last 3, the same 3 a year earlier, the
    # last 6 and the 6 before them.
    count = counts[:, :, _WINDOW_STOPS] - counts[:, :, _WINDOW_STARTS]
    total = totals[:, :, _WINDOW_STOPS] - totals[:, :, _WINDOW_STARTS]
    mean = np.where(count > 0, _divide(total, count), np.nan)
    sum12 = np.where(count[:, :, 0] > 0, total[:, :, 0], np.nan)
    count12, count6 = count[:, :, 0], count[:, :, 4]
    # Changes of each recent mean against its earlier one, and of the last month against
    # the same month a year before, in one expression.
    changes = _change(
        np.stack([mean[:, :, 0], mean[:, :, 4], mean[:, :, 2], panel[:, :, 23]], axis=2),
        np.stack([mean[:, :, 1], mean[:, :, 5], mean[:, :, 3], panel[:, :, 11]], axis=2),
    )
    trend, trend6, yoy3, year_change = (changes[:, :, i] for i in range(4))
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
    roles = court.columns["role"]
    adverse = (roles == ADVERSE_ROLES[0]) | (roles == ADVERSE_ROLES[1])
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
    kinds = penalties.columns["penalty_type"]
    out["penalties_severe_all"] = _tally(
        penalties, n, (kinds == SEVERE_PENALTIES[0]) | (kinds == SEVERE_PENALTIES[1])
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


def _latest_event_value(events: Events, n: int, column: str) -> Array:
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
    events: Events, n: int, mask: NDArray[np.bool_], weights: NDArray[Any] | None = None
) -> Array:
    chosen = events.request[mask]
    if weights is None:
        counts: Array = np.bincount(chosen, minlength=n).astype(np.float64)
        return counts
    sums = np.bincount(chosen, weights=weights[mask].astype(np.float64), minlength=n)
    return sums.astype(np.float64)
