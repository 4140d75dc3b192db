"""Loan applications, loans and their outcomes."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class LoanStatus(enum.StrEnum):
    CURRENT = "current"  # 正常
    OVERDUE = "overdue"  # 逾期
    DEFAULTED = "defaulted"  # 违约 (90+ days past due)
    SETTLED = "settled"  # 结清


class LoanApplication(Base):
    __tablename__ = "loan_applications"
    __table_args__ = (Index("ix_loan_applications_uscc_applied", "uscc", "applied_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"))
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int]
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.SUBMITTED.value)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16), default="online")
    synthetic: Mapped[bool] = mapped_column(default=False)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_uscc_disbursed", "uscc", "disbursed_on"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("loan_applications.id"), unique=True
    )
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int]
    rate_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    guarantee: Mapped[str] = mapped_column(String(16))
    disbursed_on: Mapped[dt.date] = mapped_column(Date, index=True)
    maturity_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=LoanStatus.CURRENT.value)
    # First day 90+ days past due; the credit model's label is "defaulted within 12 months".
    defaulted_on: Mapped[dt.date | None] = mapped_column(Date)
    settled_on: Mapped[dt.date | None] = mapped_column(Date)
    max_days_past_due: Mapped[int] = mapped_column(default=0)
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyntheticLoanTruth(Base):
    """SYNTHETIC DATA ONLY: the generator's true default probability of each synthetic loan,
    kept apart from the loan records so the credit model can be judged against the oracle."""

    __tablename__ = "synthetic_loan_truth"

    loan_id: Mapped[int] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    true_pd: Mapped[float] = mapped_column(Float)
    seed: Mapped[int]
