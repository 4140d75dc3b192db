"""The enterprise facts that eligibility rules and decision policies read: a fixed,
documented catalogue (``FACTS``) and their point-in-time values (``enterprise_facts``).

A fact is computed as of a date from the government data only (records dated strictly
before it, as the credit features are). Where a fact is the same quantity as a credit
feature it is taken from ``credit.features.enterprise_features`` (one implementation):
tax paid over the last 12 months and its trend, the tax credit rating, insured employees
and their trend, utilities arrears, the latest reported revenue, city, industry and size
class. The rest are read here: months in operation (from the founding date), the revenue
trend (the latest annual report against the one before), and the dated records
(dishonest-debtor listings, enforcement cases, administrative penalties) that a rule
counts within a window of its own choosing ("no penalty within 24 months").

The credit score band is not government data: matching and the decision add it from the
active credit model's score (``Facts.with_score_band``).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from credit.features import enterprise_features
from finance.core.reference import INDUSTRY_SECTIONS, henan_cities
from finance.enterprises.models import Enterprise
from finance.govdata.models import data_table


class FactType(enum.StrEnum):
    COUNT = "count"  # a non-negative integer (months, employees)
    MONEY = "money"  # integer fen
    PERCENT = "percent"  # a percentage change, e.g. -20.0 = fell by a fifth
    CATEGORY = "category"  # one code out of a fixed list
    GRADE = "grade"  # one code out of an ordered list, best first
    RECORDS = "records"  # dated records; a rule counts those within N months


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact a rule may read. ``source`` is the data category it comes from (the
    registry is the ``registration`` category; ``credit_model`` for the score band).
    ``choices`` lists the codes of a category or grade (best first for a grade), with
    their zh/en labels."""

    name: str
    type: FactType
    unit: str
    zh: str
    en: str
    source: str
    description: str
    choices: tuple[tuple[str, str, str], ...] = ()

    codes: tuple[str, ...] = field(init=False, default=())
    # Position of each code in ``choices`` (a grade's rank, best first).
    rank: Mapping[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(code for code, _, _ in self.choices))
        object.__setattr__(self, "rank", {code: i for i, code in enumerate(self.codes)})

    def label(self, code: str, lang: str) -> str:
        for choice, zh, en in self.choices:
            if choice == code:
                return zh if lang == "zh" else en
        return code


TAX_RATINGS = (
    ("A", "A级", "A"),
    ("B", "B级", "B"),
    ("M", "M级", "M"),
    ("C", "C级", "C"),
    ("D", "D级", "D"),
)
SCORE_BANDS = tuple((band, f"{band}档", band) for band in "ABCDE")
SIZE_CLASSES = (
    ("large", "大型", "large"),
    ("medium", "中型", "medium"),
    ("small", "小型", "small"),
    ("micro", "微型", "micro"),
)
_RANK_TO_RATING = {1.0: "A", 2.0: "B", 3.0: "M", 4.0: "C", 5.0: "D"}

FACTS: tuple[Fact, ...] = (
    Fact(
        "months_in_operation",
        FactType.COUNT,
        "months",
        "经营月数",
        "months in operation",
        "registration",
        "Complete months from the founding date to the as-of date.",
    ),
    Fact(
        "tax_credit_rating",
        FactType.GRADE,
        "grade",
        "纳税信用等级",
        "tax credit rating",
        "tax",
        "The latest tax credit rating (A best, then B, M, C, D) in the 24 months before.",
        TAX_RATINGS,
    ),
    Fact(
        "tax_paid_12m",
        FactType.MONEY,
        "fen",
        "近12个月纳税额",
        "tax paid over the last 12 months",
        "tax",
        "All taxes paid in the 12 complete months before the as-of month.",
    ),
    Fact(
        "tax_paid_trend",
        FactType.PERCENT,
        "percent",
        "近12个月纳税额同比变化",
        "change in tax paid against the year before",
        "tax",
        "Monthly mean of the last 12 months against the 12 before, in percent; unknown "
        "when either year has no record or the earlier year paid nothing.",
    ),
    Fact(
        "annual_revenue",
        FactType.MONEY,
        "fen",
        "年报营业收入",
        "revenue in the latest annual report",
        "registration",
        "Revenue of the latest annual report (the government data carries no monthly "
        "revenue; an annual report covers the 12 months of its year).",
    ),
    Fact(
        "annual_revenue_trend",
        FactType.PERCENT,
        "percent",
        "营业收入较上一年报变化",
        "change in revenue against the previous annual report",
        "registration",
        "Latest reported revenue against the one reported before it, in percent.",
    ),
    Fact(
        "insured_employees",
        FactType.COUNT,
        "employees",
        "参保人数",
        "insured employees",
        "social_insurance",
        "Insured employees in the latest month on record.",
    ),
    Fact(
        "insured_employees_trend",
        FactType.PERCENT,
        "percent",
        "参保人数同比变化",
        "change in insured employees against the year before",
        "social_insurance",
        "Monthly mean of the last 12 months against the 12 before, in percent.",
    ),
    Fact(
        "utility_arrears",
        FactType.MONEY,
        "fen",
        "水电欠费",
        "overdue utility bills",
        "utilities",
        "Overdue electricity and water bills in the latest month on record.",
    ),
    Fact(
        "dishonest_debtor_records",
        FactType.RECORDS,
        "records",
        "失信被执行人记录",
        "dishonest-debtor listings",
        "judicial",
        "Court cases that put the enterprise on the dishonest-debtor list, by filing date.",
    ),
    Fact(
        "enforcement_records",
        FactType.RECORDS,
        "records",
        "被执行记录",
        "enforcement cases against it",
        "judicial",
        "Enforcement cases with the enterprise as respondent, by filing date.",
    ),
    Fact(
        "penalty_records",
        FactType.RECORDS,
        "records",
        "行政处罚记录",
        "administrative penalties",
        "penalties",
        "Administrative penalties not yet credit-repaired (信用修复), by decision date.",
    ),
    Fact(
        "city",
        FactType.CATEGORY,
        "GB/T 2260",
        "所在地市",
        "city",
        "registration",
        "The prefecture-level city of the registered address (GB/T 2260 code).",
        tuple((d.code, d.name, d.name_en) for d in henan_cities()),
    ),
    Fact(
        "industry",
        FactType.CATEGORY,
        "GB/T 4754 section",
        "所属行业门类",
        "industry section",
        "registration",
        "The GB/T 4754-2017 section of the registered industry.",
        tuple((code, zh, en) for code, (_, _, zh, en) in INDUSTRY_SECTIONS.items()),
    ),
    Fact(
        "size_class",
        FactType.CATEGORY,
        "size class",
        "企业规模",
        "size class",
        "registration",
        "Size class by 工信部联企业〔2011〕300号 from the registry.",
        SIZE_CLASSES,
    ),
    Fact(
        "score_band",
        FactType.GRADE,
        "band",
        "信用评分档位",
        "credit score band",
        "credit_model",
        "The band of the score from the active credit model (A best).",
        SCORE_BANDS,
    ),
)

BY_NAME: Mapping[str, Fact] = {fact.name: fact for fact in FACTS}
NUMERIC_TYPES = (FactType.COUNT, FactType.MONEY, FactType.PERCENT)
RECORD_MONTHS_MAX = 120


Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class FactValue:
    """A fact's value (``None`` when the data does not tell) with the data category it
    comes from and the as-of date of the latest source record used."""

    value: Value
    source: str
    as_of: dt.date | None


def months_between(start: dt.date, end: dt.date) -> int:
    """Complete months from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(months, 0)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` months earlier (clipped to the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Facts:
    """Every fact of one enterprise as of ``as_of``. ``records`` holds, for each records
    fact, the dates of its records (all before ``as_of``)."""

    as_of: dt.date
    values: Mapping[str, FactValue]
    records: Mapping[str, tuple[dt.date, ...]] = field(default_factory=dict)
    # Plain values by name, and record counts by (fact, months): matching reads them
    # for every rule of every product, so they are computed once.
    _plain: dict[str, Value] = field(init=False, repr=False, compare=False, default_factory=dict)
    _counts: dict[tuple[str, int], int] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # The enterprise's own values in words, by (fact, months or 0, language).
    words: dict[tuple[str, int, str], str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for name, fact in BY_NAME.items():
            if fact.type is FactType.RECORDS:
                self._plain[name] = len(self.records.get(name, ()))
            else:
                entry = self.values.get(name)
                self._plain[name] = None if entry is None else entry.value

    def value(self, name: str) -> Value:
        return self._plain[name]

    def count_within(self, name: str, months: int) -> int:
        """Records of ``name`` dated within ``months`` months before the as-of date."""
        key = (name, months)
        count = self._counts.get(key)
        if count is None:
            since = months_before(self.as_of, months)
            count = self._counts[key] = sum(1 for day in self.records.get(name, ()) if day >= since)
        return count

    def with_score_band(self, band: str | None, as_of: dt.date | None = None) -> Facts:
        values = dict(self.values)
        values["score_band"] = FactValue(band, "credit_model", as_of or self.as_of)
        return replace(self, values=values)


def _percent(symmetric: float) -> float | None:
    """The credit features' symmetric change ``(recent - prior) / (recent + prior)`` as
    an ordinary percentage change ``(recent - prior) / prior``; unknown when the earlier
    value is zero (no growth rate) or the change is unknown."""
    if math.isnan(symmetric) or symmetric >= 1.0:
        return None
    return round(200.0 * symmetric / (1.0 - symmetric), 6)


def _fen(yuan: float) -> int | None:
    return None if math.isnan(yuan) else round(yuan * 100)


def _count(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


def _day(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    assert isinstance(value, dt.date)
    return value


MONTHLY_SOURCES = ("tax", "social_insurance", "utilities")


@functools.cache
def _facts_query() -> CompoundSelect[*tuple[Any, ...]]:
    """Everything the facts read besides the credit features, in one round trip: per
    monthly source the as-of date of its latest record in the features' window; the
    judicial and penalty records; the revenue reports; the registry row. Each row is
    (branch, day, as-of date, flag, case type, role, amount). Built once, with bound
    parameters ``uscc``, ``as_of``, ``window_start`` and ``month_end``: building it per
    call cost more CPU than running it."""
    uscc = bindparam("uscc", type_=String)
    as_of = bindparam("as_of", type_=Date)
    window_start = bindparam("window_start", type_=Date)
    month_end = bindparam("month_end", type_=Date)
    text_null, flag_null, amount_null = (
        null().cast(String),
        null().cast(Integer),
        null().cast(BigInteger),
    )
    branches: list[Select[*tuple[Any, ...]]] = []
    for name in MONTHLY_SOURCES:
        table = data_table(name)
        branches.append(
            select(
                literal(name, String).label("branch"),
                null().cast(Date).label("day"),
                func.max(table.c.as_of_date).label("recorded"),
                flag_null.label("flag"),
                text_null.label("case_type"),
                text_null.label("role"),
                amount_null.label("amount"),
            ).where(
                table.c.uscc == uscc, table.c.period >= window_start, table.c.period < month_end
            )
        )
    judicial = data_table("judicial")
    branches.append(
        select(
            literal("judicial", String),
            judicial.c.filed_on,
            judicial.c.as_of_date,
            cast(judicial.c.dishonest_debtor, Integer),
            judicial.c.case_type,
            judicial.c.role,
            amount_null,
        ).where(judicial.c.uscc == uscc, judicial.c.filed_on < as_of)
    )
    penalties = data_table("penalties")
    branches.append(
        select(
            literal("penalties", String),
            penalties.c.decided_on,
            penalties.c.as_of_date,
            cast(func.coalesce(penalties.c.repaired, False), Integer),
            text_null,
            text_null,
            amount_null,
        ).where(penalties.c.uscc == uscc, penalties.c.decided_on < as_of)
    )
    registration = data_table("registration")
    branches.append(
        select(
            literal("registration", String),
            registration.c.event_date,
            registration.c.as_of_date,
            flag_null,
            text_null,
            text_null,
            registration.c.revenue_fen,
        ).where(
            registration.c.uscc == uscc,
            registration.c.event_date < as_of,
            registration.c.revenue_fen.is_not(None),
        )
    )
    registry = Enterprise.__table__
    branches.append(
        select(
            literal("enterprise", String),
            registry.c.founded_on,
            registry.c.record_date,
            flag_null,
            text_null,
            text_null,
            amount_null,
        ).where(registry.c.uscc == uscc)
    )
    return union_all(*branches)


def enterprise_facts(session: Session, uscc: str, as_of: dt.date) -> Facts:
    """The facts of one enterprise as of ``as_of`` (the score band left unknown until
    ``with_score_band``). One read besides the credit features (``_facts_query``)."""
    features = enterprise_features(session, uscc, as_of)
    month_end = dt.date(as_of.year, as_of.month, 1)
    window_start = months_before(month_end, 24)

    rows = session.execute(
        _facts_query(),
        {"uscc": uscc, "as_of": as_of, "window_start": window_start, "month_end": month_end},
    ).all()
    source_as_of: dict[str, dt.date | None] = dict.fromkeys(MONTHLY_SOURCES)
    dishonest: list[dt.date] = []
    enforcement: list[dt.date] = []
    penalty_days: list[dt.date] = []
    judicial_as_of: dt.date | None = None
    penalties_as_of: dt.date | None = None
    reports: list[tuple[dt.date, int, dt.date | None]] = []
    founded: dt.date | None = None
    registry_as_of: dt.date | None = None
    for branch, day_value, recorded_value, flag, case_type, role, amount in rows:
        day, recorded = _day(day_value), _day(recorded_value)
        if branch in source_as_of:
            source_as_of[branch] = recorded
        elif branch == "judicial":
            assert day is not None
            judicial_as_of = max(filter(None, (judicial_as_of, recorded)), default=None)
            if flag:
                dishonest.append(day)
            if case_type == "enforcement" and role == "respondent":
                enforcement.append(day)
        elif branch == "penalties":
            assert day is not None
            penalties_as_of = max(filter(None, (penalties_as_of, recorded)), default=None)
            if not flag:
                penalty_days.append(day)
        elif branch == "registration":
            assert day is not None
            reports.append((day, int(amount), recorded))
        else:
            founded, registry_as_of = day, recorded
    # Revenue reports, latest first (the largest of a day first, as the credit feature
    # picks): the level is the credit feature's; the trend compares it with the report
    # before it.
    reports.sort(key=lambda report: (report[0], report[1]), reverse=True)
    revenue = _fen(features["reported_revenue_yuan"])
    revenue_as_of = reports[0][2] if reports else None
    revenue_trend: float | None = None
    if reports:
        earlier = [r for r in reports if r[0] != reports[0][0]]
        if earlier and revenue is not None:
            prior = int(earlier[0][1])
            revenue_trend = round(100.0 * (revenue - prior) / prior, 6) if prior > 0 else None

    rank = features["tax_rating_rank"]

    def fact(name: str, value: Value, as_of_date: dt.date | None) -> tuple[str, FactValue]:
        return name, FactValue(value, BY_NAME[name].source, as_of_date)

    values = dict(
        (
            fact(
                "months_in_operation",
                None if founded is None else months_between(founded, as_of),
                registry_as_of,
            ),
            fact(
                "tax_credit_rating",
                None if math.isnan(rank) else _RANK_TO_RATING[rank],
                source_as_of["tax"],
            ),
            fact("tax_paid_12m", _fen(features["tax_paid_12m_yuan"]), source_as_of["tax"]),
            fact("tax_paid_trend", _percent(features["tax_paid_trend"]), source_as_of["tax"]),
            fact("annual_revenue", revenue, revenue_as_of),
            fact("annual_revenue_trend", revenue_trend, revenue_as_of),
            fact(
                "insured_employees",
                _count(features["insured_employees"]),
                source_as_of["social_insurance"],
            ),
            fact(
                "insured_employees_trend",
                _percent(features["insured_employees_trend"]),
                source_as_of["social_insurance"],
            ),
            fact(
                "utility_arrears",
                _fen(features["utility_overdue_yuan"]),
                source_as_of["utilities"],
            ),
            fact("dishonest_debtor_records", len(dishonest), judicial_as_of),
            fact("enforcement_records", len(enforcement), judicial_as_of),
            fact("penalty_records", len(penalty_days), penalties_as_of),
            fact("city", features["city_code"], registry_as_of),
            fact("industry", features["industry_section"], registry_as_of),
            fact("size_class", features["size_class"], registry_as_of),
            fact("score_band", None, None),
        )
    )
    return Facts(
        as_of=as_of,
        values=values,
        records={
            "dishonest_debtor_records": tuple(sorted(dishonest)),
            "enforcement_records": tuple(sorted(enforcement)),
            "penalty_records": tuple(sorted(penalty_days)),
        },
    )
