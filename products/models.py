"""Loan products: the product (a bank's code for it), its versions (every term the bank
publishes, reviewed by ops before it goes online) and each version's review history.

A product's terms live only in its versions. At most one version of a product is online
and at most one is open (draft or submitted) at any moment; both are enforced by partial
unique indexes, so two concurrent approvals cannot both win.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow


class Guarantee(enum.StrEnum):
    PURE_CREDIT = "pure_credit"  # 纯信用
    GUARANTEED = "guaranteed"  # 保证
    MORTGAGE = "mortgage"  # 抵押
    PLEDGE = "pledge"  # 质押


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"  # 草稿
    SUBMITTED = "submitted"  # 待审核
    ONLINE = "online"  # 已上架
    REJECTED = "rejected"  # 审核未通过
    OFFLINE = "offline"  # 已下架


class FeeKind(enum.StrEnum):
    FIXED = "fixed"  # a fixed sum in fen
    PERCENT = "percent"  # a percentage of the amount lent


OPEN_STATUSES = (VersionStatus.DRAFT.value, VersionStatus.SUBMITTED.value)


class LoanProduct(Base):
    """A bank's product, identified by (bank, code); applications and loans point here,
    their terms are those of the version they were made against."""

    __tablename__ = "loan_products"
    __table_args__ = (UniqueConstraint("bank_id", "code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProductVersion(Base):
    """One version of a product's terms. Amounts in fen, rates as annual percentages
    (年化利率), terms in months. ``eligibility`` and ``policy`` hold the validated
    declarative rules (``products.rules`` / ``products.policy``)."""

    __tablename__ = "product_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "number"),
        Index(
            "uq_product_versions_one_online",
            "product_id",
            unique=True,
            sqlite_where=text("status = 'online'"),
            postgresql_where=text("status = 'online'"),
        ),
        Index(
            "uq_product_versions_one_open",
            "product_id",
            unique=True,
            sqlite_where=text("status IN ('draft', 'submitted')"),
            postgresql_where=text("status IN ('draft', 'submitted')"),
        ),
        Index("ix_product_versions_status_rate", "status", "rate_min_pct", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("loan_products.id", ondelete="CASCADE"), index=True
    )
    # Denormalised from the product: every catalogue query filters or scopes by bank.
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.DRAFT.value)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    guarantee: Mapped[str] = mapped_column(String(16))
    min_amount_fen: Mapped[int] = mapped_column(BigInteger)
    max_amount_fen: Mapped[int] = mapped_column(BigInteger)
    default_amount_fen: Mapped[int] = mapped_column(BigInteger)
    min_term_months: Mapped[int]
    max_term_months: Mapped[int]
    rate_min_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    rate_max_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    # RepaymentMethod values, e.g. ["equal_instalment", "interest_only"].
    repayment_methods: Mapped[list[str]] = mapped_column(JSON)
    # One-off fees at disbursement: [{"name": ..., "kind": "fixed", "amount_fen": n}
    # or {"name": ..., "kind": "percent", "percent": "0.5"}].
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # GB/T 2260 city codes; empty means the whole province.
    cities: Mapped[list[str]] = mapped_column(JSON)
    # GB/T 4754 sections; empty means every industry.
    industries: Mapped[list[str]] = mapped_column(JSON)
    # Size classes (micro, small, medium, large); empty means every size.
    sizes: Mapped[list[str]] = mapped_column(JSON)
    # The data categories the bank needs consent to read, and how many months back.
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    consent_months: Mapped[int]
    eligibility: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auto_decision: Mapped[bool] = mapped_column(default=False)
    synthetic: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    online_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TargetDimension(enum.StrEnum):
    CITY = "city"
    INDUSTRY = "industry"
    SIZE = "size"
    METHOD = "method"


# The target value of a dimension the version leaves open (no city: the whole province).
ANY_TARGET = "*"


class ProductVersionTarget(Base):
    """The version's list-valued terms (cities, industries, sizes, repayment methods) as
    rows, so the catalogue filters on them with an index on every backend; an empty list
    of cities, industries or sizes is one row of ``ANY_TARGET``. Written only by
    ``products.service`` together with the version's JSON lists."""

    __tablename__ = "product_version_targets"
    __table_args__ = (Index("ix_product_version_targets_lookup", "dimension", "value"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("product_versions.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)


class ProductTransition(Base):
    """One step of a version's review workflow: who (a user, a bank's OAuth client or the
    platform itself), when, why."""

    __tablename__ = "product_transitions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("product_versions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # "user:<id>", "client:<client_id>" or "platform" (a superseded version, synthesis),
    # and the name shown for it (the username or client name at the time).
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
