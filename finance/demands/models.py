"""Financing demands (融资需求, 银企对接): an enterprise posts what it needs, the platform
pushes it to the banks whose online products fit, the first pushed bank to claim it
(抢单) takes it, then records contact and the outcome.

The times kept here (posted, pushed per bank, claimed, contacted, outcome) are the
figures the lending statistics publish as banks' response times.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime
from finance.lending import models as _lending  # noqa: F401  (demands reference applications)


class DemandStatus(enum.StrEnum):
    OPEN = "open"  # 待认领: pushed (or waiting for a fitting bank), nobody has claimed it
    CLAIMED = "claimed"  # 已认领: one bank took it
    CONTACTED = "contacted"  # 已对接: the bank reached the enterprise
    LOAN = "loan"  # 已放款/已授信: it led to a loan application
    DECLINED = "declined"  # 银行婉拒: the bank declined it, with a reason code
    WITHDRAWN = "withdrawn"  # 企业撤回: the enterprise took it back before an outcome


class Urgency(enum.StrEnum):
    URGENT = "urgent"  # needed within a week
    NORMAL = "normal"  # within a month
    FLEXIBLE = "flexible"  # no fixed date


class ContactChannel(enum.StrEnum):
    PHONE = "phone"
    VISIT = "visit"  # 上门拜访
    ONLINE = "online"  # through the platform


class DeclineReason(enum.StrEnum):
    OUTSIDE_POLICY = "outside_policy"  # outside the bank's credit policy
    INSUFFICIENT_CREDIT = "insufficient_credit"  # credit record or score too weak
    INSUFFICIENT_REPAYMENT = "insufficient_repayment"  # revenue or cash flow too small
    INSUFFICIENT_COLLATERAL = "insufficient_collateral"  # guarantee offered not enough
    ENTERPRISE_WITHDREW = "enterprise_withdrew"  # the enterprise no longer needs it
    UNREACHABLE = "unreachable"  # the enterprise could not be reached
    OTHER = "other"


class DemandEventKind(enum.StrEnum):
    POSTED = "posted"
    PUSHED = "pushed"  # one push round: the banks it reached
    OVERDUE = "overdue"  # unclaimed after the working days allowed; flagged to ops
    CLAIMED = "claimed"
    CONTACTED = "contacted"
    LOAN = "loan"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # by the enterprise, with its reason


class FinancingDemand(Base):
    __tablename__ = "financing_demands"
    __table_args__ = (
        Index("ix_financing_demands_uscc_posted", "uscc", "posted_at"),
        # The overdue sweep: open demands whose current round has run out.
        Index("ix_financing_demands_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"))
    posted_by: Mapped[int | None] = mapped_column(ForeignKey("authz_users.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(500))
    # The guarantee the enterprise can offer (products.models.Guarantee values).
    guarantee: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    contact_channel: Mapped[str] = mapped_column(String(16))
    # Shown only to the bank that claims the demand.
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    contact_note: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DemandStatus.OPEN.value)
    posted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Push rounds so far, and when the current one runs out unclaimed (None once claimed).
    push_round: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Flagged to ops: first and latest time it went unclaimed past its working days.
    overdue_count: Mapped[int] = mapped_column(default=0)
    first_overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # "user:12" | "client:abc"
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(String(32))
    # The application the demand led to (the 310 flow fills loan_applications).
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_applications.id"))
    synthetic: Mapped[bool] = mapped_column(default=False)


class DemandPush(Base):
    """The demand shown to one bank: in which round, at which rank of fit, for which of
    the bank's products. A bank is pushed a demand at most once."""

    __tablename__ = "demand_pushes"
    __table_args__ = (
        UniqueConstraint("demand_id", "bank_id"),
        Index("ix_demand_pushes_bank_pushed", "bank_id", "pushed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("financing_demands.id", ondelete="CASCADE"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id"))
    round: Mapped[int]
    rank: Mapped[int]
    fit: Mapped[int]
    pushed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DemandEvent(Base):
    """One step of a demand's history, as the enterprise, the bank and ops see it."""

    __tablename__ = "demand_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    demand_id: Mapped[int] = mapped_column(
        ForeignKey("financing_demands.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))  # "user:12", "client:abc", "platform"
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
