"""Accounts: creating users with roles, password login and enterprise authentication.

Enterprise authentication (认证) compares the legal representative's name and ID number
with the market-registration record in the enterprise registry. Failures of either
login or authentication are rate limited per subject and logged without the submitted
secret.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authz.errors import AccessRefused
from authz.models import ROLES_BY_KIND, AuthenticationAttempt, Role, User, UserKind
from authz.passwords import hash_password, verify_password
from finance.core.errors import Conflict, Invalid
from finance.enterprises.models import Enterprise
from finance.enterprises.service import get_enterprise
from finance.institutions.models import Bank

log = logging.getLogger("authz.accounts")
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    kind: UserKind,
    roles: list[Role],
    now: dt.datetime,
    display_name: str | None = None,
    uscc: str | None = None,
    bank_id: int | None = None,
    city_code: str | None = None,
) -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    if not roles or not set(roles) <= ROLES_BY_KIND[kind]:
        allowed = ", ".join(sorted(ROLES_BY_KIND[kind]))
        raise Invalid(f"a {kind.value} user's roles are among: {allowed}")
    if (kind is UserKind.ENTERPRISE) != (uscc is not None):
        raise Invalid("enterprise users, and only they, are bound to a USCC")
    if (kind is UserKind.BANK) != (bank_id is not None):
        raise Invalid("bank staff, and only they, are bound to a bank")
    if city_code is not None and kind is not UserKind.OPS:
        raise Invalid("only platform ops are scoped to a city")
    if uscc is not None:
        get_enterprise(session, uscc)
    if bank_id is not None and session.get(Bank, bank_id) is None:
        raise Invalid(f"no bank with id {bank_id}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        kind=kind.value,
        roles=" ".join(sorted(r.value for r in roles)),
        uscc=uscc,
        bank_id=bank_id,
        city_code=city_code,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _recent_failures(session: Session, kind: str, subject: str, now: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                AuthenticationAttempt.kind == kind,
                AuthenticationAttempt.subject == subject,
                AuthenticationAttempt.succeeded.is_(False),
                AuthenticationAttempt.at > now - FAILURE_WINDOW,
            )
        )
        or 0
    )


def _guard_attempts(session: Session, kind: str, subject: str, now: dt.datetime) -> None:
    if _recent_failures(session, kind, subject, now) >= MAX_FAILURES:
        log.warning("attempts locked out", extra={"attempt_kind": kind, "subject": subject})
        retry = int(FAILURE_WINDOW.total_seconds())
        raise AccessRefused(
            429,
            "too_many_attempts",
            "too many failed attempts; try again later",
            headers={"Retry-After": str(retry)},
        )


def _record(
    session: Session, kind: str, subject: str, now: dt.datetime, ok: bool, reason: str | None
) -> None:
    session.add(
        AuthenticationAttempt(kind=kind, subject=subject, at=now, succeeded=ok, reason=reason)
    )
    session.flush()
    log.info(
        "authentication attempt",
        extra={"attempt_kind": kind, "subject": subject, "succeeded": ok, "reason": reason},
    )


def login(session: Session, username: str, password: str, now: dt.datetime) -> User | None:
    """The user whose password this is, or None; the attempt is recorded either way."""
    _guard_attempts(session, "login", username, now)
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        _record(session, "login", username, now, False, "bad credentials")
        return None
    _record(session, "login", username, now, True, None)
    return user


def authenticate_enterprise(
    session: Session, user: User, legal_rep_name: str, id_number: str, now: dt.datetime
) -> Enterprise | None:
    """认证: the legal representative's name and ID number must match the registry.
    None when they do not; the failure is recorded (callers must not roll it back)."""
    if user.kind != UserKind.ENTERPRISE.value or user.uscc is None:
        raise Invalid("only enterprise users authenticate an enterprise")
    subject = f"user:{user.id}"
    _guard_attempts(session, "enterprise", subject, now)
    enterprise = get_enterprise(session, user.uscc)
    name_ok = hmac.compare_digest(
        legal_rep_name.strip().encode(), enterprise.legal_rep_name.encode()
    )
    id_ok = hmac.compare_digest(
        id_number.strip().upper().encode(), enterprise.legal_rep_id_number.upper().encode()
    )
    if not (name_ok and id_ok):
        _record(session, "enterprise", subject, now, False, "does not match the registry")
        return None
    user.authenticated_at = now
    _record(session, "enterprise", subject, now, True, None)
    return enterprise
