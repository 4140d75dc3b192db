"""Loan applications (the 310 flow), their decisions and transitions, loans, their
instalments and repayments.

The synthetic generator fills these tables too, with the same kind of rows (decisions,
transitions, loans with their instalments and repayments, flagged ``synthetic``), and the
credit model reads loan outcomes from ``loans`` (its labels). The columns the 310 flow
added are nullable or defaulted, for rows loaded from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"  # the form is open
    SUBMITTED = "submitted"
    DATA_COLLECTED = "data_collected"  # the consented data has been read
    SCORED = "scored"
    APPROVED = "approved"  # an offer is waiting for the enterprise
    REFERRED = "referred"  # a bank officer decides
    DECLINED = "declined"
    ACCEPTED = "accepted"  # the enterprise accepted the offer
    DISBURSED = "disbursed"  # the loan exists
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"  # the offer was not accepted in time


class LoanStatus(enum.StrEnum):
    CURRENT = "current"  # 正常
    OVERDUE = "overdue"  # 逾期
    DEFAULTED = "defaulted"  # 违约 (90+ days past due)
    SETTLED = "settled"  # 结清


class LoanApplication(Base):
    __tablename__ = "loan_applications"
    __table_args__ = (
        Index("ix_loan_applications_uscc_applied", "uscc", "applied_at"),
        Index("ix_loan_applications_bank_status", "bank_id", "status", "id"),
        UniqueConstraint("uscc", "idempotency_key", name="uq_loan_applications_idempotency"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"))
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int]
    # When the form was opened (the draft); for synthetic rows, when they applied.
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.SUBMITTED.value)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16), default="online")
    synthetic: Mapped[bool] = mapped_column(default=False)
    # The 310 flow's own columns (nullable; synthetic rows have the version, the method and
    # the state machine's stamps, not the user, client, consent or idempotency key).
    product_version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_versions.id"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("authz_users.id"))
    client_id: Mapped[str | None] = mapped_column(String(64))  # the bank's data client
    consent_id: Mapped[str | None] = mapped_column(String(40))
    repayment_method: Mapped[str | None] = mapped_column(String(24))
    purpose: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Bumped by every transition: the conditional UPDATE that makes one of two
    # concurrent transitions win.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    data_collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disbursed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # {category: records read} when the consented data was read for the decision.
    data_reads: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApplicationTransition(Base):
    """One change of an application's state: who, when, why."""

    __tablename__ = "loan_application_transitions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("loan_applications.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class ApplicationDecision(Base):
    """The automatic decision on an application (one per application), and what it
    rested on: the model, the score, the rules, the data read, the offer."""

    __tablename__ = "loan_decisions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("loan_applications.id", ondelete="CASCADE"), unique=True
    )
    outcome: Mapped[str] = mapped_column(String(16))  # approved | referred | declined
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    model_version: Mapped[str | None] = mapped_column(String(64))
    pd: Mapped[float | None] = mapped_column(Float)
    score: Mapped[int | None]
    band: Mapped[str | None] = mapped_column(String(8))
    # [{"code", "zh", "en"}], at most four.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # [{"rule", "passed", "zh", "en"}] of the product version's eligibility rules.
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {category: rows read} under the application's consent.
    data_reads: Mapped[dict[str, Any]] = mapped_column(JSON)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    term_months: Mapped[int | None]
    method: Mapped[str | None] = mapped_column(String(24))
    annual_rate_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    apr_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    fees_fen: Mapped[int | None] = mapped_column(BigInteger)
    # [{"number", "due_on", "principal_fen", "interest_fen"}]
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


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
    # The loan book's own columns (nullable or defaulted for loans loaded without them;
    # synthetic loans have them all, frozen as of the province's end date).
    contract_no: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(24))
    fees_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    apr_pct: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    days_past_due: Mapped[int] = mapped_column(default=0, server_default="0")
    dpd_as_of: Mapped[dt.date | None] = mapped_column(Date)
    # Bumped by whatever changes the loan's figures (a repayment, the daily run): the
    # conditional UPDATE that makes one of two concurrent changes win (``book.claim``).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class Instalment(Base):
    """One instalment of a loan's schedule, what is due and what has been paid of it."""

    __tablename__ = "loan_instalments"
    __table_args__ = (UniqueConstraint("loan_id", "number"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    due_on: Mapped[dt.date] = mapped_column(Date)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    penalty_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_principal_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_interest_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_penalty_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Penalty interest has been accrued up to this day (exclusive).
    penalty_to: Mapped[dt.date | None] = mapped_column(Date)
    settled_on: Mapped[dt.date | None] = mapped_column(Date)


class Repayment(Base):
    """Money received on a loan and how it was allocated (penalty, interest, principal)."""

    __tablename__ = "loan_repayments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyntheticLoanTruth(Base):
    """SYNTHETIC DATA ONLY: the generator's true default probability of each synthetic loan,
    kept apart from the loan records so the credit model can be judged against the oracle."""

    __tablename__ = "synthetic_loan_truth"

    loan_id: Mapped[int] = mapped_column(
        ForeignKey("loans.id", ondelete="CASCADE"), primary_key=True
    )
    true_pd: Mapped[float] = mapped_column(Float)
    seed: Mapped[int]
