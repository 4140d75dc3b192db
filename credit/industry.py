"""The industry employment index (行业就业景气): how each industry section's insured
employment stands against its usual level, month by month, from the social insurance data.

An industry's business cycle moves all its enterprises together, and a downturn raises
their default risk beyond what each one's own figures show. Per GB/T 4754 section and
month, the index chains the mean month-on-month change of ``ln(1 + insured employees)``
over the section's enterprises that reported in both months (the same enterprises on
both sides, so entries and exits do not move it), and compares the chained level with its
mean over the ``LEVEL_MONTHS`` months up to that month: positive above the usual level,
negative below. A section needs ``MIN_MONTHS`` months of data before it has a value.

The month's value uses data of that month and earlier only. A score as of a date uses the
latest month before the as-of month, at most ``STALE_MONTHS`` back
(``credit.features.catalogue``; a month is complete only once it has ended, and department
data arrive with a lag); the feature is missing otherwise. The values are derived data
kept in ``credit_industry_index``: ``refresh`` rewrites the table from the insured
employees in the packed social-insurance series (``credit.features.series``). Like the
series, the index is kept current where its inputs change, in the same transaction:
ingestion refreshes it after writing social-insurance rows or registration records (an
enterprise's section), and ``finance credit rebuild-series`` after rewriting the series.
Scoring, training and monitoring read it as it stands (a night's rescoring of 100,000
enterprises spent 1.7 s of its 11 refreshing an index nothing had changed).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select

from credit.features.days import DayNumber, month_numbers
from credit.features.series import DTYPE, MEASURES_OF
from credit.models import IndustryIndex, MonthlySeries
from finance.core.db import refresh_statistics
from finance.enterprises.models import Enterprise

LEVEL_MONTHS = 36
MIN_MONTHS = 12
SOURCE = "social_insurance"
EMPLOYEES = MEASURES_OF[SOURCE].index("si_employees")  # its row in the packed series


def compute(connection: Connection) -> pd.DataFrame:
    """The index of every section and month: columns section, period (first day of the
    month), value, enterprises."""
    # The insured employees of each enterprise as its packed monthly series holds them
    # (``credit.features.series``): one row per enterprise instead of one per month.
    rows = connection.execute(
        select(
            Enterprise.industry_section,
            DayNumber(MonthlySeries.first_month),
            MonthlySeries.months,
            MonthlySeries.packed,
        )
        .join(Enterprise, Enterprise.uscc == MonthlySeries.uscc)
        .where(MonthlySeries.category == SOURCE, Enterprise.industry_section.is_not(None))
        .order_by(MonthlySeries.uscc)
    ).all()
    columns = ["section", "period", "value", "enterprises"]
    if not rows:
        return pd.DataFrame(columns=columns)
    sections, first_days, lengths, packed = zip(*rows, strict=True)
    length = np.array(lengths, dtype=np.int64)
    starts = np.cumsum(length) - length
    at = EMPLOYEES * DTYPE.itemsize  # the measure's months lie one after another
    flat = np.frombuffer(
        b"".join(
            p[at * n : at * n + DTYPE.itemsize * n] for p, n in zip(packed, lengths, strict=True)
        ),
        dtype=DTYPE,
    )
    owner = np.repeat(np.arange(len(rows)), length)
    month = np.repeat(month_numbers(np.array(first_days, dtype=np.int64)), length)
    month = month + np.arange(len(flat)) - np.repeat(starts, length)
    reported = ~np.isnan(flat)
    uscc, month = owner[reported], month[reported]  # reports, by enterprise and month
    reports = pd.DataFrame(
        {"section": np.asarray(sections, dtype=object)[uscc], "employees": flat[reported]}
    )
    log_employees = np.log1p(reports["employees"].to_numpy(dtype=np.float64))
    # Row i is matched when row i - 1 is the same enterprise's report of the month before.
    matched = np.zeros(len(reports), dtype=bool)
    matched[1:] = (uscc[1:] == uscc[:-1]) & (month[1:] == month[:-1] + 1)
    changes = pd.DataFrame(
        {
            "section": reports["section"].to_numpy()[matched],
            "month": month[matched],
            "change": (log_employees[1:] - log_employees[:-1])[matched[1:]],
        }
    )
    mean = changes.pivot_table(index="month", columns="section", values="change", aggfunc="mean")
    count = changes.pivot_table(index="month", columns="section", values="change", aggfunc="size")
    spans = pd.DataFrame({"section": reports["section"], "month": month}).groupby("section")
    frames = []
    for section, months in spans["month"]:
        every = np.arange(months.min(), months.max() + 1)
        # The first month has no change; a month nobody reported twice moves nothing.
        step = mean[section].reindex(every) if section in mean else pd.Series(np.nan, every)
        chained = step.fillna(0.0).to_numpy().cumsum()
        usual = pd.Series(chained).rolling(LEVEL_MONTHS, min_periods=1).mean().to_numpy()
        matched_count = (
            count[section].reindex(every) if section in count else pd.Series(np.nan, every)
        )
        known = np.arange(len(every)) >= MIN_MONTHS - 1
        frames.append(
            pd.DataFrame(
                {
                    "section": section,
                    "period": [_first_day(m) for m in every[known]],
                    "value": (chained - usual)[known],
                    "enterprises": matched_count.fillna(0).to_numpy(dtype=np.int64)[known],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[columns]


def refresh(connection: Connection) -> int:
    """Rewrite the index table from the packed series and the registry, in the caller's
    transaction; returns the rows written."""
    values = compute(connection)
    connection.execute(delete(IndustryIndex))
    records = [
        {"section": str(section), "period": period, "value": float(value), "enterprises": int(n)}
        for section, period, value, n in values.itertuples(index=False)
    ]
    if records:
        connection.execute(insert(IndustryIndex), records)
    refresh_statistics(connection, {IndustryIndex.__tablename__: len(values)})
    return len(values)


def _first_day(month: int) -> dt.date:
    return dt.date(int(month) // 12, int(month) % 12 + 1, 1)
