"""Fixtures of the credit tests: a small seeded province committed to the test database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from tests.credit.builders import Province, build_province

# The builders' loans are disbursed in 2023-2024; by this date every outcome is known.
OBSERVED_UNTIL = dt.date(2026, 1, 1)


@pytest.fixture
def province(session: Session) -> Province:
    built = build_province(session, enterprises=400, months=36, seed=11)
    session.commit()
    return built
