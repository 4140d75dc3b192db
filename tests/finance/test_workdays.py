"""Working days in mainland China from the chinese-calendar package: weekends, public
holidays and make-up working days; deadlines counted in Beijing days."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from finance.core.workdays import (
    calendar_covers,
    is_working_day,
    nth_working_day_after,
    working_deadline,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = dt.date


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 9, 30), True),  # Wednesday before National Day
        (D(2026, 10, 1), False),  # National Day
        (D(2026, 10, 5), False),  # Monday inside the holiday
        (D(2026, 10, 10), True),  # Saturday, make-up working day
        (D(2026, 10, 11), False),  # plain Sunday
        (D(2026, 9, 20), True),  # Sunday, make-up working day
        (D(2026, 2, 16), False),  # Spring Festival
        (D(2026, 2, 14), True),  # Saturday, make-up working day
        (D(2026, 11, 30), True),  # plain Monday
    ],
)
def test_working_days_of_2026(day: dt.date, working: bool) -> None:
    assert is_working_day(day) is working


def test_nth_working_day_after() -> None:
    assert nth_working_day_after(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert nth_working_day_after(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert nth_working_day_after(D(2026, 10, 9), 2) == D(2026, 10, 12)
    with pytest.raises(ValueError, match="at least 1"):
        nth_working_day_after(D(2026, 9, 30), 0)


def test_deadline_is_midnight_beijing_after_the_last_working_day() -> None:
    # 23:30 UTC on 29 Sep is already 30 Sep in Beijing: the day of posting is 30 Sep.
    start = dt.datetime(2026, 9, 29, 23, 30, tzinfo=dt.UTC)
    deadline = working_deadline(start, 1)
    assert deadline == dt.datetime(2026, 10, 9, 0, 0, tzinfo=SHANGHAI)
    assert deadline.tzinfo == dt.UTC
    assert working_deadline(start, 3) == dt.datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)


def test_a_year_the_calendar_does_not_know_counts_monday_to_friday(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert calendar_covers(D(2026, 10, 1))
    assert not calendar_covers(D(2099, 1, 1))
    with caplog.at_level(logging.WARNING, logger="finance.workdays"):
        assert is_working_day(D(2099, 1, 2)) is True  # a Friday
        assert is_working_day(D(2099, 1, 3)) is False  # a Saturday
    assert "2099" in caplog.text
