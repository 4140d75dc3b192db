"""Tables of the credit component: the model registry, the scores it produced, and two
derived tables the features read: the monthly series packed per enterprise and the
industry employment index."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"  # trained, not serving
    ACTIVE = "active"  # the one model the scoring path uses
    RETIRED = "retired"  # served before; can come back by rollback


class CreditModelVersion(Base):
    __tablename__ = "credit_models"
    __table_args__ = (Index("ix_credit_models_status", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ModelStatus.CANDIDATE.value)
    source: Mapped[str] = mapped_column(String(200))
    artifact_dir: Mapped[str] = mapped_column(String(500))
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(String(100))
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The version this one replaced when promoted: where a rollback returns to.
    previous_version: Mapped[str | None] = mapped_column(String(64))


class CreditScore(Base):
    """One enterprise's score as of a date by one model version. The key is that triple
    (so a task that runs twice writes one row), led by the model and the date: a night's
    rescoring appends its rows next to each other in the one index instead of scattering
    them over an index led by the USCC, and the date's rows are counted and read by the
    key's first two columns."""

    __tablename__ = "credit_scores"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    uscc: Mapped[str] = mapped_column(
        ForeignKey("enterprises.uscc", ondelete="CASCADE"), primary_key=True
    )
    pd: Mapped[float] = mapped_column(Float)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(4))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndustryIndex(Base):
    """Per GB/T 4754 section and month, the section's employment against its usual level
    (``credit.industry``), computed from the social insurance data up to that month.
    Derived data: ``credit.industry.refresh`` rewrites it from the data tables."""

    __tablename__ = "credit_industry_index"

    section: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # first day of the month
    value: Mapped[float] = mapped_column(Float)
    enterprises: Mapped[int] = mapped_column(Integer)  # matched in this month and the one before


class MonthlySeries(Base):
    """One enterprise's monthly measures from one monthly category table (tax, social
    insurance, ...), every month from the first to the last on record, packed as
    little-endian float64 ``[measures, months]`` with NaN where a month has no value
    (``credit.features.series``). Derived data: written with the category's rows by
    ingestion, in the same transaction; ``finance credit rebuild-series`` rewrites it
    from the data tables."""

    __tablename__ = "credit_series"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_month: Mapped[dt.date] = mapped_column(Date)  # first day of the first month held
    months: Mapped[int] = mapped_column(Integer)
    packed: Mapped[bytes] = mapped_column(LargeBinary)
