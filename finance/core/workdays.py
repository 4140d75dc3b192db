"""Working days in mainland China: weekends off, public holidays off, and the make-up
working days (调休上班) the State Council announces each year on, from the maintained
``chinese-calendar`` package. Days are Asia/Shanghai calendar days.

The package carries each year's official schedule once it is published (every autumn for
the next year). For a year it does not know yet, a day counts as a working day when it is
Monday to Friday, and a warning is logged once per year: upgrade the package when the
State Council publishes the schedule.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("finance.workdays")


@cache
def _warn_uncovered(year: int) -> None:
    log.warning(
        "chinese-calendar has no holiday schedule for %s; counting Monday-Friday as working "
        "days until the package is upgraded",
        year,
        extra={"year": year},
    )


def is_working_day(day: dt.date) -> bool:
    """Whether ``day`` is a working day in mainland China."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5


def calendar_covers(day: dt.date) -> bool:
    """Whether the official schedule of ``day``'s year is known to the calendar."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def nth_working_day_after(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day strictly after ``day`` (``n`` >= 1)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    current = day
    while n:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            n -= 1
    return current


def local_day(moment: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar day of an aware moment."""
    return moment.astimezone(SHANGHAI).date()


def working_deadline(start: dt.datetime, working_days: int) -> dt.datetime:
    """When ``working_days`` full working days have passed after ``start``'s day: midnight
    (Asia/Shanghai) at the end of the ``working_days``-th working day after the day of
    ``start``, as an aware UTC moment. The day of ``start`` itself does not count, so
    something that arrives late on a Friday afternoon is not already a day old."""
    last = nth_working_day_after(local_day(start), working_days)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=SHANGHAI)
    return end.astimezone(dt.UTC)
