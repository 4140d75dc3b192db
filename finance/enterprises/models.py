"""The enterprise registry table, maintained from the market-registration category."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import UTCDateTime, utcnow


class Enterprise(Base):
    __tablename__ = "enterprises"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_rep_name: Mapped[str] = mapped_column(String(64))
    # Stored for authentication of the legal representative; masked in every response.
    legal_rep_id_number: Mapped[str] = mapped_column(String(18))
    founded_on: Mapped[dt.date] = mapped_column(Date)
    registered_capital_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    division_code: Mapped[str] = mapped_column(String(6))
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    industry_section: Mapped[str] = mapped_column(String(1), index=True)
    industry_division: Mapped[str] = mapped_column(String(2))
    industry_class: Mapped[str | None] = mapped_column(String(4))
    employees: Mapped[int | None] = mapped_column(Integer)
    revenue_fen: Mapped[int | None] = mapped_column(BigInteger)
    total_assets_fen: Mapped[int | None] = mapped_column(BigInteger)
    size_class: Mapped[str] = mapped_column(String(8), index=True)
    record_date: Mapped[dt.date] = mapped_column(Date)
    source_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("ingest_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
