"""Loan products published by banks (plain data here; the catalogue issue adds review
workflow, eligibility rules and matching)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class Guarantee(enum.StrEnum):
    PURE_CREDIT = "pure_credit"  # 纯信用
    GUARANTEED = "guaranteed"  # 保证
    MORTGAGE = "mortgage"  # 抵押
    PLEDGE = "pledge"  # 质押


class LoanProduct(Base):
    __tablename__ = "loan_products"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    guarantee: Mapped[str] = mapped_column(String(16))
    min_amount_fen: Mapped[int] = mapped_column(BigInteger)
    max_amount_fen: Mapped[int] = mapped_column(BigInteger)
    min_term_months: Mapped[int]
    max_term_months: Mapped[int]
    rate_min_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    rate_max_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    # Comma-separated size classes the product is meant for, e.g. "micro,small".
    target_sizes: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="published")
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
