"""Department data drawn from the latent health: monthly tax, social insurance, housing fund,
utilities and customs figures, court, penalty, IP and procurement events, and the
registration snapshots. Everything is computed on whole (enterprise x month) arrays.

Money is integer fen here; ``finance.synth.files`` writes it as yuan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from finance.synth.province import (
    BoolArray,
    FloatArray,
    IntArray,
    Province,
    sigmoid,
)
from finance.synth.vocabulary import (
    CIVIL_CAUSES,
    INDUSTRIES,
    IP_TITLE_WORDS,
    PENALTY_AUTHORITIES,
    PURCHASE_ITEMS,
    PURCHASERS,
)

# Observation noise (standard deviations on the log scale) and health sensitivities.
REVENUE_HEALTH = 0.45
REVENUE_NOISE = 0.12
EMPLOYEES_HEALTH = 0.35
ELECTRICITY_HEALTH = 0.5
ELECTRICITY_NOISE = 0.10
FLAG_NOISE = 0.35  # noise added to h before the distress thresholds below
TAX_ARREARS_BELOW = -1.3
SOCIAL_ARREARS_BELOW = -1.4
UTILITY_OVERDUE_BELOW = -1.5
INSURED_SHARE = (0.55, 0.85, 0.97, 1.0)  # by size tier
HOUSING_SHARE = (0.15, 0.45, 0.8, 0.95)
TRADE_TIER = (0.8, 1.4, 2.5, 4.0)
SIZE_FACTOR = np.array([1.0, 2.0, 4.0, 8.0])  # event rates grow with size

# Monthly event rates (per enterprise and month) before size, industry and health factors.
DEFENDANT_RATE = 0.0025
PLAINTIFF_RATE = 0.0020
ENFORCEMENT_RATE = 0.0008
PENALTY_RATE = 0.0020
IP_RATE = 0.0030
PROCUREMENT_RATE = 0.0015


@dataclass(frozen=True, slots=True)
class Observed:
    """The observed department data of the window, as arrays over (enterprise, month)."""

    revenue: FloatArray  # (n, burn_in + months) yuan, internal: feeds annual reports
    employees: FloatArray  # (n, burn_in + months)
    vat: IntArray
    cit: IntArray
    iit: IntArray
    other_tax: IntArray
    tax_arrears: IntArray
    credit_rating: npt.NDArray[np.str_]
    insured: BoolArray  # (n,)
    insured_employees: IntArray
    contributions: IntArray
    social_arrears: IntArray
    housing: BoolArray  # (n,)
    contributors: IntArray
    housing_amount: IntArray
    electricity_kwh: IntArray
    water_m3: IntArray
    overdue_bills: IntArray
    trader: BoolArray  # (n,)
    import_value: IntArray
    export_value: IntArray
    customs_credit: npt.NDArray[np.str_]
    judicial: pd.DataFrame  # internal columns: enterprise, month, filed_on, ...
    penalties: pd.DataFrame
    ip: pd.DataFrame
    procurement: pd.DataFrame
    annual_reports: pd.DataFrame  # enterprise, year, event_date, employees, revenue, assets
    changes: pd.DataFrame  # enterprise, event_date, change_item, before, after

    @property
    def tax_paid(self) -> IntArray:
        return self.vat + self.cit + self.iit + self.other_tax


def _fen(yuan: FloatArray) -> IntArray:
    return np.round(yuan * 100).astype(np.int64)


def _distressed(rng: np.random.Generator, health: FloatArray, below: float) -> BoolArray:
    flagged: BoolArray = health + rng.normal(0, FLAG_NOISE, health.shape) < below
    return flagged


def _ewma(values: FloatArray, weight: float) -> FloatArray:
    smooth = np.empty_like(values)
    level = values[:, 0]
    for t in range(values.shape[1]):  # one vector step per month
        level = weight * level + (1 - weight) * values[:, t]
        smooth[:, t] = level
    return smooth


def _days_in_month(months: npt.NDArray[np.datetime64]) -> IntArray:
    lengths: IntArray = (
        (months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")
    ).astype(np.int64)
    return lengths


def _events(
    rng: np.random.Generator, rate: FloatArray, months: npt.NDArray[np.datetime64]
) -> tuple[IntArray, IntArray, npt.NDArray[np.datetime64]]:
    """Poisson event counts per (enterprise, month) -> one entry per event with its day."""
    counts = rng.poisson(rate)
    enterprise, month = np.nonzero(counts)
    repeat = counts[enterprise, month]
    enterprise = np.repeat(enterprise, repeat)
    month = np.repeat(month, repeat)
    offsets = (rng.random(len(month)) * _days_in_month(months)[month]).astype(np.int64)
    days = months[month].astype("datetime64[D]") + offsets.astype("timedelta64[D]")
    order = np.lexsort((days, enterprise))
    return enterprise[order].astype(np.int64), month[order].astype(np.int64), days[order]


def observe(province: Province) -> Observed:
    config = province.config
    rng = config.rng(4)
    ent = province.enterprises
    n = len(ent)
    health = province.health
    h0 = ent.h0[:, None]
    alive = province.alive
    calendar = (province.months.astype(np.int64) % 12 + 1).astype(np.int64)
    tier = ent.tier
    w = province.window
    months_w = province.months[w]
    hw = health[:, w]

    # Retail and catering peak around the Spring Festival, the rest in early summer.
    section_peak = np.where(np.isin(ent.section, ["F", "H"]), 12, 6)
    revenue_season = 0.08 * np.cos(2 * np.pi * (calendar[None, :] - section_peak[:, None]) / 12)
    revenue = (
        ent.revenue_yuan[:, None]
        / 12
        * np.exp(
            REVENUE_HEALTH * (health - h0)
            + revenue_season
            + rng.normal(0, REVENUE_NOISE, health.shape)
        )
        * alive
    )
    employees = (
        np.maximum(
            1.0,
            np.round(ent.employees[:, None] * np.exp(EMPLOYEES_HEALTH * _ewma(health - h0, 0.7))),
        )
        * alive
    )

    # Tax: VAT on revenue, corporate income tax prepaid quarterly on the last quarter's
    # profit, withheld IIT on wages, surcharges; arrears when distressed (then half is paid).
    vat_rate = rng.uniform(0.008, 0.035, n)[:, None]
    margin = np.clip(rng.normal(0.06, 0.04, n)[:, None] + 0.04 * health, -0.3, 0.4)
    cit_rate = np.array([0.05, 0.05, 0.15, 0.25])[tier][:, None]
    wage = rng.uniform(3500, 7500, n)[:, None]
    profit = revenue * margin
    quarter_profit = profit + np.roll(profit, 1, axis=1) + np.roll(profit, 2, axis=1)
    quarter_end = np.isin(calendar, [1, 4, 7, 10])[None, :]
    quarter_profit = np.roll(quarter_profit, 1, axis=1)
    cit = np.where(quarter_end, np.maximum(0.0, quarter_profit) * cit_rate, 0.0)[:, w]
    vat = (revenue * vat_rate)[:, w] * np.exp(rng.normal(0, 0.08, hw.shape))
    iit = employees[:, w] * wage * rng.uniform(0.003, 0.02, n)[:, None]
    other = 0.12 * vat + revenue[:, w] * 0.0008
    in_arrears = _distressed(rng, hw, TAX_ARREARS_BELOW)
    due = vat + cit + iit + other
    paid_share = np.where(in_arrears, 0.5, 1.0)
    tax_arrears = np.where(in_arrears, due * rng.uniform(1.0, 4.0, hw.shape) + 100, 0.0)

    # Tax credit rating, evaluated each April for the previous year from December's health.
    rating = _credit_rating(rng, province)

    insured = rng.random(n) < np.array(INSURED_SHARE)[tier]
    coverage = rng.uniform(0.5, 1.0, n)[:, None]
    insured_employees = np.where(
        insured[:, None], np.maximum(1, np.round(employees[:, w] * coverage)), 0
    ).astype(np.int64)
    base = rng.uniform(3579, 6500, n)[:, None]  # contribution base, yuan per person
    social_due = insured_employees * base * 0.30
    social_late = _distressed(rng, hw, SOCIAL_ARREARS_BELOW) & insured[:, None]
    contributions = np.where(social_late, social_due * 0.4, social_due)
    social_arrears = np.where(social_late, social_due * rng.uniform(1.0, 3.0, hw.shape), 0.0)

    housing = insured & (rng.random(n) < np.array(HOUSING_SHARE)[tier]) & (ent.h0 > -0.5)
    contributors = np.where(
        housing[:, None],
        np.maximum(1, np.round(insured_employees * rng.uniform(0.5, 1, n)[:, None])),
        0,
    ).astype(np.int64)
    housing_amount = contributors * base * 2 * rng.uniform(0.05, 0.12, n)[:, None]

    intensity = np.array([i.kwh_per_10k_revenue for i in INDUSTRIES])[ent.industry_index]
    electricity_season = 0.08 * np.cos(4 * np.pi * (calendar[w] - 1) / 12)[None, :]
    kwh = (ent.revenue_yuan * intensity * rng.uniform(0.6, 1.6, n) / 120_000)[:, None] * np.exp(
        ELECTRICITY_HEALTH * (hw - h0)
        + electricity_season
        + rng.normal(0, ELECTRICITY_NOISE, hw.shape)
    )
    kwh = np.maximum(1, np.round(kwh))
    water = np.maximum(
        1, np.round(kwh * rng.uniform(0.02, 0.2, n)[:, None] * np.exp(rng.normal(0, 0.1, hw.shape)))
    )
    overdue = np.where(
        _distressed(rng, hw, UTILITY_OVERDUE_BELOW), kwh * 0.65 * rng.uniform(1.0, 2.0, hw.shape), 0
    )

    trade_share = np.array([i.trade_share for i in INDUSTRIES])[ent.industry_index]
    trader = rng.random(n) < trade_share * np.array(TRADE_TIER)[tier]
    trading_month = rng.random(hw.shape) >= 0.15
    trade_level = (
        (ent.revenue_yuan / 12)[:, None]
        * np.exp(0.5 * (hw - h0) + rng.normal(0, 0.3, hw.shape))
        * trading_month
    )
    export_value = trade_level * rng.uniform(0.1, 0.8, n)[:, None]
    import_value = trade_level * rng.uniform(0.0, 0.5, n)[:, None]
    aeo = (tier >= 2) & (ent.h0 > 0.8)
    customs_credit = np.where(
        hw < -1.8, "dishonest", np.where(aeo[:, None], "aeo_advanced", "general")
    )

    return Observed(
        revenue=revenue,
        employees=employees,
        vat=_fen(vat * paid_share),
        cit=_fen(cit * paid_share),
        iit=_fen(iit * paid_share),
        other_tax=_fen(other * paid_share),
        tax_arrears=_fen(tax_arrears),
        credit_rating=rating,
        insured=insured,
        insured_employees=insured_employees,
        contributions=_fen(contributions),
        social_arrears=_fen(social_arrears),
        housing=housing,
        contributors=contributors,
        housing_amount=_fen(housing_amount),
        electricity_kwh=kwh.astype(np.int64),
        water_m3=water.astype(np.int64),
        overdue_bills=_fen(overdue),
        trader=trader,
        import_value=_fen(import_value),
        export_value=_fen(export_value),
        customs_credit=customs_credit,
        judicial=_judicial(rng, province, months_w),
        penalties=_penalties(rng, province, months_w),
        ip=_ip(rng, province, months_w),
        procurement=_procurement(rng, province, months_w),
        annual_reports=_annual_reports(rng, province, revenue, employees),
        changes=_changes(rng, province),
    )


def _credit_rating(rng: np.random.Generator, province: Province) -> npt.NDArray[np.str_]:
    """The tax credit grade (A/B/M/C/D) in force each window month: each April's
    evaluation of the previous year."""
    ent = province.enterprises
    months = province.months[province.window]
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    calendar = months.astype(np.int64) % 12 + 1
    evaluated_year = np.where(calendar >= 4, year - 1, year - 2)
    first_simulated = int(province.months[0].astype("datetime64[Y]").astype(np.int64) + 1970)
    december = np.datetime64(f"{first_simulated}-12", "M")
    dec_index = (
        (evaluated_year - first_simulated) * 12 + int((december - province.months[0]).astype(int))
    ).clip(0, province.health.shape[1] - 1)
    years = np.unique(evaluated_year)
    noise = rng.normal(0, 0.3, (len(ent), len(years)))
    score = province.health[:, dec_index] + noise[:, np.searchsorted(years, evaluated_year)]
    founded_year = ent.founded_on.astype("datetime64[Y]").astype(np.int64) + 1970
    new = founded_year[:, None] >= evaluated_year[None, :]
    grade: npt.NDArray[np.str_] = np.select(
        [new, score > 0.9, score > -0.3, score > -1.6], ["M", "A", "B", "C"], default="D"
    )
    return grade


def _city_short(province: Province, enterprise: IntArray) -> pd.Series:
    from finance.core.reference import henan_divisions

    names = {code: d.name for code, d in henan_divisions().items()}
    city = pd.Series(province.enterprises.city_code[enterprise])
    return city.map(names)


def _year(days: npt.NDArray[np.datetime64]) -> pd.Series:
    return pd.Series(days.astype("datetime64[Y]").astype(np.int64) + 1970).astype(str)


def _judicial(
    rng: np.random.Generator, province: Province, months: npt.NDArray[np.datetime64]
) -> pd.DataFrame:
    """Civil cases as defendant (more often as health falls) and as plaintiff, and
    enforcement cases as respondent, some of which list the enterprise as a dishonest
    debtor (more likely the lower its health)."""
    ent = province.enterprises
    h = province.health[:, province.window]
    size = SIZE_FACTOR[ent.tier][:, None]
    end = np.datetime64(province.config.end_date, "D")
    frames = []
    for role, case_type, rate, duration in (
        ("defendant", "civil", DEFENDANT_RATE * size * np.exp(-0.9 * h), 120.0),
        ("plaintiff", "civil", PLAINTIFF_RATE * size * np.ones_like(h), 120.0),
        ("respondent", "enforcement", ENFORCEMENT_RATE * np.sqrt(size) * np.exp(-1.5 * h), 200.0),
    ):
        enterprise, month, filed = _events(rng, rate, months)
        count = len(enterprise)
        days = np.round(rng.lognormal(np.log(duration), 0.5, count)).astype("timedelta64[D]")
        closed_on = filed + days
        closed = closed_on <= end
        if case_type == "enforcement":
            dishonest = rng.random(count) < sigmoid(-1.0 - 1.5 * h[enterprise, month])
            status = np.where(closed, np.where(dishonest, "terminated", "closed"), "enforcing")
        else:
            dishonest = np.zeros(count, dtype=bool)
            status = np.where(closed, "closed", "pending")
        amount = rng.lognormal(np.log(80_000), 1.0, count) * SIZE_FACTOR[ent.tier[enterprise]]
        frames.append(
            pd.DataFrame(
                {
                    "enterprise": enterprise,
                    "month": month,
                    "filed_on": filed,
                    "case_type": case_type,
                    "role": role,
                    "cause": np.array(CIVIL_CAUSES)[rng.integers(0, len(CIVIL_CAUSES), count)],
                    "amount": np.where(rng.random(count) < 0.9, _fen(amount), -1),
                    "status": status,
                    "closed_on": np.where(closed, closed_on, np.datetime64("NaT")),
                    "dishonest_debtor": dishonest,
                }
            )
        )
    cases = pd.concat(frames, ignore_index=True)
    cases = cases.sort_values(["enterprise", "filed_on", "role"], kind="stable", ignore_index=True)
    # Case numbers like (2025)豫0102民初1234号: city and district court, kind, sequence.
    city = pd.Series(ent.city_code[cases["enterprise"].to_numpy()])
    district = pd.Series(rng.integers(1, 9, len(cases))).astype(str).str.zfill(2)
    court = (city.str.slice(2, 4) + district).where(city != "419001", "9001")
    kind = pd.Series(np.where(cases["case_type"] == "enforcement", "执", "民初"))
    sequence = pd.Series(np.arange(1, len(cases) + 1)).astype(str)
    year = _year(cases["filed_on"].to_numpy())
    cases["case_number"] = "(" + year + ")豫" + court + kind + sequence + "号"
    return cases


def _penalties(
    rng: np.random.Generator, province: Province, months: npt.NDArray[np.datetime64]
) -> pd.DataFrame:
    """Administrative penalties, more frequent for larger and less healthy enterprises."""
    ent = province.enterprises
    h = province.health[:, province.window]
    rate = PENALTY_RATE * SIZE_FACTOR[ent.tier][:, None] * np.exp(-0.6 * h)
    enterprise, month, decided = _events(rng, rate, months)
    count = len(enterprise)
    pairs = [(a, abbr, reason) for a, abbr, reasons in PENALTY_AUTHORITIES for reason in reasons]
    which = rng.integers(0, len(pairs), count)
    authority = np.array([p[0] for p in pairs])[which]
    abbreviation = np.array([p[1] for p in pairs])[which]
    reasons = np.array([p[2] for p in pairs])[which]
    penalty_type = rng.choice(
        ["warning", "fine", "confiscation", "suspension"], count, p=[0.25, 0.70, 0.03, 0.02]
    )
    fined = np.isin(penalty_type, ["fine", "confiscation"])
    amount = np.round(
        rng.lognormal(np.log(5_000), 1.0, count) * SIZE_FACTOR[ent.tier[enterprise]], -2
    )
    end = np.datetime64(province.config.end_date, "D")
    old = decided < end - np.timedelta64(365, "D")
    repaired = np.where(
        rng.random(count) < 0.1, "", np.where(old & (rng.random(count) < 0.4), "true", "false")
    )
    city = _city_short(province, enterprise)
    year = _year(decided)
    sequence = pd.Series(np.arange(1, count + 1)).astype(str)
    return pd.DataFrame(
        {
            "enterprise": enterprise,
            "month": month,
            "decision_number": city.str.slice(0, 1)
            + abbreviation
            + "〔"
            + year
            + "〕"
            + sequence
            + "号",
            "decided_on": decided,
            "authority": city + authority,
            "reason": reasons,
            "penalty_type": penalty_type,
            "amount": np.where(fined, _fen(amount), -1),
            "repaired": repaired,
        }
    )


def _ip(
    rng: np.random.Generator, province: Province, months: npt.NDArray[np.datetime64]
) -> pd.DataFrame:
    """Patents, trademarks and software copyrights granted, by industry and size; healthier
    enterprises file a little more, and some pledge them (IP pledge financing)."""
    ent = province.enterprises
    h = province.health[:, province.window]
    industry = np.array([i.ip_rate for i in INDUSTRIES])[ent.industry_index]
    rate = IP_RATE * (industry * SIZE_FACTOR[ent.tier])[:, None] * np.exp(0.3 * h)
    enterprise, month, granted = _events(rng, rate, months)
    count = len(enterprise)
    software = ent.section[enterprise] == "I"
    kinds = np.array(
        ["invention_patent", "utility_model", "design_patent", "trademark", "software_copyright"]
    )
    ip_type = np.where(
        software,
        kinds[rng.choice(5, count, p=[0.1, 0.05, 0.0, 0.25, 0.6])],
        kinds[rng.choice(5, count, p=[0.15, 0.4, 0.1, 0.3, 0.05])],
    )
    year = _year(granted)
    sequence = pd.Series(np.arange(1, count + 1)).astype(str).str.zfill(7)
    check = pd.Series(rng.integers(0, 10, count)).astype(str)
    patent = "ZL" + year + "1" + sequence + "." + check
    number = np.select(
        [
            np.char.endswith(ip_type, "patent") | (ip_type == "utility_model"),
            ip_type == "trademark",
        ],
        [patent, "TM" + year + sequence],
        default=year + "SR" + sequence,
    )
    return pd.DataFrame(
        {
            "enterprise": enterprise,
            "month": month,
            "registration_number": number,
            "ip_type": ip_type,
            "title": np.array(IP_TITLE_WORDS)[rng.integers(0, len(IP_TITLE_WORDS), count)],
            "granted_on": granted,
            "status": rng.choice(
                ["valid", "pledged", "expired", "transferred"], count, p=[0.85, 0.05, 0.07, 0.03]
            ),
        }
    )


def _procurement(
    rng: np.random.Generator, province: Province, months: npt.NDArray[np.datetime64]
) -> pd.DataFrame:
    """Public tenders won, by industry and size."""
    ent = province.enterprises
    industry = np.array([i.procurement_rate for i in INDUSTRIES])[ent.industry_index]
    rate = PROCUREMENT_RATE * (industry * SIZE_FACTOR[ent.tier])[:, None]
    rate = np.broadcast_to(rate, (len(ent), len(months)))
    enterprise, month, awarded = _events(rng, rate, months)
    count = len(enterprise)
    purchaser = (
        _city_short(province, enterprise)
        + np.array(PURCHASERS)[rng.integers(0, len(PURCHASERS), count)]
    )
    item = np.array(PURCHASE_ITEMS)[rng.integers(0, len(PURCHASE_ITEMS), count)]
    amount = np.round(
        rng.lognormal(np.log(200_000), 1.0, count) * SIZE_FACTOR[ent.tier[enterprise]], -2
    )
    sequence = pd.Series(np.arange(1, count + 1)).astype(str).str.zfill(7)
    return pd.DataFrame(
        {
            "enterprise": enterprise,
            "month": month,
            "award_id": "HNCG-" + _year(awarded) + "-" + sequence,
            "awarded_on": awarded,
            "purchaser": purchaser,
            "project": purchaser + item + "项目",
            "amount": _fen(amount),
            "contract_months": rng.choice([3, 6, 12, 24, 36], count, p=[0.1, 0.2, 0.5, 0.15, 0.05]),
        }
    )


def _annual_reports(
    rng: np.random.Generator, province: Province, revenue: FloatArray, employees: FloatArray
) -> pd.DataFrame:
    """One annual report (年报) per enterprise and year, filed between mid-January and the
    end of June of the next year: the year's revenue, December's headcount and assets."""
    config = province.config
    ent = province.enterprises
    first_year = int(province.months[0].astype("datetime64[Y]").astype(np.int64)) + 1970
    founded_year = ent.founded_on.astype("datetime64[Y]").astype(np.int64) + 1970
    end = np.datetime64(config.end_date, "D")
    frames = []
    for year in range(first_year, config.end.year):
        columns = slice((year - first_year) * 12, (year - first_year + 1) * 12)
        filed = np.datetime64(f"{year + 1}-01-15", "D") + rng.integers(0, 167, len(ent)).astype(
            "timedelta64[D]"
        )
        rows = np.flatnonzero((founded_year <= year) & (filed <= end))
        health_gap = province.health[rows, columns].mean(axis=1) - ent.h0[rows]
        frames.append(
            pd.DataFrame(
                {
                    "enterprise": rows,
                    "year": year,
                    "event_date": filed[rows],
                    "employees": employees[rows, columns.stop - 1].astype(np.int64),
                    "revenue": _fen(revenue[rows, columns].sum(axis=1)),
                    "assets": _fen(ent.assets_yuan[rows] * np.exp(0.3 * health_gap)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _changes(rng: np.random.Generator, province: Province) -> pd.DataFrame:
    """Registration changes inside the window: registered capital raised (6%) and business
    scope changed (4%); at most one of each per enterprise."""
    config = province.config
    ent = province.enterprises
    start = np.datetime64(config.start, "D")
    span = (np.datetime64(config.end_date, "D") - start).astype(np.int64) + 1
    frames = []
    for item, share in (("注册资本", 0.06), ("经营范围", 0.04)):
        rows = np.flatnonzero(rng.random(len(ent)) < share)
        dates = start + rng.integers(0, span, len(rows)).astype("timedelta64[D]")
        if item == "注册资本":
            before = ent.registered_capital_yuan[rows]
            after = (np.round(before * rng.uniform(1.5, 5.0, len(rows)) / 10_000) * 10_000).astype(
                np.int64
            )
            before_text = pd.Series(before // 10_000).astype(str) + "万元"
            after_text = pd.Series(after // 10_000).astype(str) + "万元"
        else:
            after = np.zeros(len(rows), dtype=np.int64)
            before_text = pd.Series(["一般项目：销售、技术服务"] * len(rows))
            after_text = before_text + "、进出口业务"
        frames.append(
            pd.DataFrame(
                {
                    "enterprise": rows,
                    "event_date": dates,
                    "change_item": item,
                    "before_value": before_text.to_numpy(),
                    "after_value": after_text.to_numpy(),
                    "new_capital_yuan": after,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
