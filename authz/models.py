"""Tables of the authorization layer: accounts, OAuth clients and grants, consents, the
audit ledger, webhook events and the shared counters rate limits use."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from finance.core.db import Base
from finance.core.types import BigIntPK, UTCDateTime, utcnow
from finance.lending import models as _lending  # noqa: F401  (consents reference applications)


class UserKind(enum.StrEnum):
    ENTERPRISE = "enterprise"  # 企业用户, bound to one USCC
    BANK = "bank"  # 银行工作人员, bound to one bank
    OPS = "ops"  # 平台运营, province-wide or one city branch (分厅)


class Role(enum.StrEnum):
    LEGAL_REP = "legal_rep"  # 法定代表人
    AGENT = "agent"  # 经办人 (authorised agent)
    BANK_ADMIN = "bank_admin"  # registers OAuth clients
    BANK_STAFF = "bank_staff"
    OPS_ADMIN = "ops_admin"  # approves clients
    OPS_AUDITOR = "ops_auditor"  # searches the ledger


ROLES_BY_KIND: dict[UserKind, frozenset[Role]] = {
    UserKind.ENTERPRISE: frozenset({Role.LEGAL_REP, Role.AGENT}),
    UserKind.BANK: frozenset({Role.BANK_ADMIN, Role.BANK_STAFF}),
    UserKind.OPS: frozenset({Role.OPS_ADMIN, Role.OPS_AUDITOR}),
}


class User(Base):
    __tablename__ = "authz_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    roles: Mapped[str] = mapped_column(String(200))  # space-separated Role values
    uscc: Mapped[str | None] = mapped_column(ForeignKey("enterprises.uscc"), index=True)
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id"), index=True)
    # None for province-wide ops; a GB/T 2260 city code for a city branch.
    city_code: Mapped[str | None] = mapped_column(String(6))
    # 认证: set when the legal representative's name and ID number matched the registry.
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    # Portal sessions carry the epoch they were issued in; logging out moves it on, so
    # every cookie issued before stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())


class AuthenticationAttempt(Base):
    """One attempt at enterprise authentication (认证) or password login; failures count
    toward the rate limit. Never holds the submitted ID number or password."""

    __tablename__ = "authz_auth_attempts"
    __table_args__ = (Index("ix_authz_auth_attempts_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "login" | "enterprise"
    subject: Mapped[str] = mapped_column(String(100))  # username or user id
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    succeeded: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(100))


class ClientStatus(enum.StrEnum):
    PENDING = "pending"  # registered by bank staff, waiting for ops
    ACTIVE = "active"
    SUSPENDED = "suspended"


class OAuthClient(Base):
    __tablename__ = "authz_clients"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    # Only sandbox clients may use client_secret_basic; argon2 hash of the secret.
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    sandbox: Mapped[bool] = mapped_column(default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=ClientStatus.PENDING.value)
    registered_by: Mapped[int] = mapped_column(ForeignKey("authz_users.id"))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("authz_users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """The platform's signing keys (access tokens, webhooks); the newest signs, all
    unretired ones are published at the JWKS endpoint."""

    __tablename__ = "authz_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PushedAuthorizationRequest(Base):
    """RFC 9126: an authorization request the client pushed; used once, by that client."""

    __tablename__ = "authz_par"

    request_uri: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, str]] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The consent screen's one-time ticket: the user who saw it, and its digest.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("authz_users.id"))
    ticket_digest: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuthorizationCode(Base):
    __tablename__ = "authz_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("authz_users.id"))
    consent_id: Mapped[str] = mapped_column(ForeignKey("authz_consents.id"))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IssuedToken(Base):
    """One access token (by its ``jti``) and, when issued, its refresh token (by digest)."""

    __tablename__ = "authz_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("authz_users.id"))
    consent_id: Mapped[str | None] = mapped_column(ForeignKey("authz_consents.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("authz_codes.id"), index=True)
    grant_type: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UsedJti(Base):
    """Replay protection for client assertions (RFC 7523) and DPoP proofs (RFC 9449)."""

    __tablename__ = "authz_used_jtis"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ConsentStatus(enum.StrEnum):
    AWAITING = "AwaitingAuthorisation"
    AUTHORISED = "Authorised"
    REJECTED = "Rejected"
    REVOKED = "Revoked"
    EXPIRED = "Expired"


class Consent(Base):
    __tablename__ = "authz_consents"
    __table_args__ = (Index("ix_authz_consents_client_uscc", "client_id", "uscc"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("authz_clients.client_id"))
    uscc: Mapped[str] = mapped_column(ForeignKey("enterprises.uscc"), index=True)
    categories: Mapped[str] = mapped_column(Text)  # space-separated category names
    data_from: Mapped[dt.date] = mapped_column(Date)
    data_to: Mapped[dt.date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(Text)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_applications.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    max_calls_per_day: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16))  # "bank" | "platform"
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_changed_by: Mapped[str] = mapped_column(String(100))

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()


class ConsentChange(Base):
    """Who moved a consent to which status, and when."""

    __tablename__ = "authz_consent_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("authz_consents.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(100))  # "user:12", "client:abc", "system"


class LedgerEntry(Base):
    """One audit ledger entry; ``hash`` = SHA-256 over ``prev_hash`` and the entry's fields."""

    __tablename__ = "authz_ledger"
    __table_args__ = (
        Index("ix_authz_ledger_uscc_at", "uscc", "at"),
        Index("ix_authz_ledger_client_at", "client_id", "at"),
        Index("ix_authz_ledger_consent_outcome_at", "consent_id", "outcome", "at"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str | None] = mapped_column(String(64))
    uscc: Mapped[str | None] = mapped_column(String(18))
    consent_id: Mapped[str | None] = mapped_column(String(40))
    categories: Mapped[str] = mapped_column(Text, default="")
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    rows_returned: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class DailyCalls(Base):
    """Allowed data calls per consent per day (Asia/Shanghai): the daily limit's counter,
    incremented in the transaction that appends the call's ledger entry."""

    __tablename__ = "authz_daily_calls"

    consent_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)


class LedgerHead(Base):
    """The single row every append locks: the newest entry's number and hash."""

    __tablename__ = "authz_ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ConsentEvent(Base):
    """An event for a bank client (a consent's change, a financing demand pushed to its
    bank): kept in its event log and delivered as a webhook."""

    __tablename__ = "authz_events"
    __table_args__ = (Index("ix_authz_events_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    consent_id: Mapped[str | None] = mapped_column(String(40))  # None: not about a consent
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    gave_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    __tablename__ = "authz_webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("authz_events.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))


class RateCounter(Base):
    """Fixed-window counters shared by every server process (when Redis is not used)."""

    __tablename__ = "authz_rate_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
