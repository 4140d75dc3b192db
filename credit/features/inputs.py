"""What the feature computation takes in, and where each part comes from: the monthly
measures (a ``[requests, measures, MONTHS]`` panel), the event rows tagged with the
request they belong to, the registry attributes, the industry index value and the amount
applied for. ``credit.features.read`` fills an ``Inputs`` from the database,
``credit.features.compute`` turns it into features; both paths, one enterprise online
and many in batch, go through the same two steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
EPOCH = dt.date(1970, 1, 1)

TAX_RATING_RANK = {"A": 1.0, "B": 2.0, "M": 3.0, "C": 4.0, "D": 5.0}
CUSTOMS_CREDIT_RANK = {"aeo_advanced": 1.0, "general": 2.0, "dishonest": 3.0}

# Monthly measures read into panels: name -> (table, column or columns summed). A month
# whose column (any of them) is NULL is a missing month of that measure.
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
# Graded text measures, as ranks (1 best).
RANKS: Mapping[str, Mapping[str, float]] = {
    "tax_rating": TAX_RATING_RANK,
    "customs_credit": CUSTOMS_CREDIT_RANK,
}
MONTHLY_TABLES: tuple[str, ...] = tuple(dict.fromkeys(t for t, _ in MONTHLY.values()))
MEASURES: tuple[str, ...] = (*MONTHLY, "trade")  # trade = imports + exports, derived
M: Mapping[str, int] = {name: i for i, name in enumerate(MEASURES)}

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
# Event columns kept as numbers with NaN for missing (other amounts count NULL as 0).
NULLABLE_NUMBERS = ("employees", "revenue_fen")


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


@dataclass(slots=True)
class Events:
    """Rows of one event table dated before their request's as-of date, each tagged with
    the index of the request it belongs to. ``columns``: amounts in fen (NULL as 0, or
    NaN for ``NULLABLE_NUMBERS``), dates as day numbers (NULL as -1), flags as 0/1, text
    as objects."""

    request: NDArray[np.int64]
    day: NDArray[np.int64]
    columns: dict[str, NDArray[Any]]


@dataclass(slots=True)
class Inputs:
    """Everything the computation needs for ``n`` requests (one enterprise as of a date,
    perhaps applying for an amount)."""

    n: int
    as_of_day: NDArray[np.int64]
    amount_fen: Array  # the amount applied for, NaN without an application
    industry: Array  # the industry employment index of the request's section and month
    panel: Array  # [n, len(MEASURES), MONTHS], NaN where a month has no record
    events: dict[str, Events]
    founded_day: Array
    capital_fen: Array
    categories: dict[str, list[str | None]]
