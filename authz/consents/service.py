"""The consent lifecycle: AwaitingAuthorisation -> Authorised | Rejected -> Revoked |
Expired, with who and when for every change, each change appended to the audit ledger
and announced to the bank as an event.

Whether a consent covers a call is decided here (``covering_consent``) and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from authz.ledger import service as ledger
from authz.models import (
    Consent,
    ConsentChange,
    ConsentStatus,
    IssuedToken,
    OAuthClient,
    User,
    UserKind,
)
from authz.webhooks.service import record_event
from finance.core.errors import Conflict, Invalid, NotFound
from finance.enterprises.service import get_enterprise
from finance.govdata.categories import REGISTRY

MAX_LIFETIME = dt.timedelta(days=366)  # "at most 12 months"
MAX_CALLS_PER_DAY = 10_000
SHANGHAI = ZoneInfo("Asia/Shanghai")
_EVENT_OF = {
    ConsentStatus.AUTHORISED: "consent.authorised",
    ConsentStatus.REJECTED: "consent.rejected",
    ConsentStatus.REVOKED: "consent.revoked",
    ConsentStatus.EXPIRED: "consent.expired",
}


def _check_terms(
    categories: Iterable[str],
    data_from: dt.date,
    data_to: dt.date,
    expires_at: dt.datetime,
    max_calls_per_day: int,
    now: dt.datetime,
) -> list[str]:
    names = sorted(set(categories))
    if not names:
        raise Invalid("a consent names at least one data category")
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise Invalid(f"unknown data categories: {', '.join(unknown)}", known=sorted(REGISTRY))
    if data_from > data_to:
        raise Invalid("data_from is after data_to")
    if expires_at <= now:
        raise Invalid("expires_at is in the past")
    if expires_at > now + MAX_LIFETIME:
        raise Invalid("a consent lasts at most 12 months")
    if not 1 <= max_calls_per_day <= MAX_CALLS_PER_DAY:
        raise Invalid(f"max_calls_per_day must be between 1 and {MAX_CALLS_PER_DAY}")
    return names


def _change(
    session: Session,
    consent: Consent,
    status: ConsentStatus,
    by: str,
    now: dt.datetime,
    request_id: str | None = None,
) -> None:
    consent.status = status.value
    consent.status_changed_at = now
    consent.status_changed_by = by
    session.add(ConsentChange(consent_id=consent.id, status=status.value, at=now, by=by))
    ledger.append(
        session,
        at=now,
        action=f"consent_{status.value.lower()}",
        actor=by,
        outcome="recorded",
        request_id=request_id,
        client_id=consent.client_id,
        uscc=consent.uscc,
        consent_id=consent.id,
        categories=consent.category_list,
        date_from=consent.data_from,
        date_to=consent.data_to,
    )
    event = _EVENT_OF.get(status)
    if event is not None:
        record_event(session, consent, event, now)
    if status in (ConsentStatus.REVOKED, ConsentStatus.EXPIRED, ConsentStatus.REJECTED):
        # Every token issued under it dies with it, refresh tokens included.
        session.execute(
            update(IssuedToken)
            .where(IssuedToken.consent_id == consent.id, IssuedToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    session.flush()


def create(
    session: Session,
    *,
    client: OAuthClient,
    uscc: str,
    categories: Iterable[str],
    data_from: dt.date,
    data_to: dt.date,
    purpose: str,
    expires_at: dt.datetime,
    max_calls_per_day: int,
    now: dt.datetime,
    application_id: int | None = None,
    origin: str = "bank",
    request_id: str | None = None,
) -> Consent:
    names = _check_terms(categories, data_from, data_to, expires_at, max_calls_per_day, now)
    if not purpose.strip():
        raise Invalid("a consent states its purpose")
    try:
        get_enterprise(session, uscc)
    except NotFound as exc:
        raise Invalid(f"no enterprise with USCC {uscc} is registered") from exc
    consent = Consent(
        id="cns_" + secrets.token_urlsafe(18),
        client_id=client.client_id,
        uscc=uscc,
        categories=" ".join(names),
        data_from=data_from,
        data_to=data_to,
        purpose=purpose.strip()[:2000],
        application_id=application_id,
        expires_at=expires_at,
        max_calls_per_day=max_calls_per_day,
        origin=origin,
        status=ConsentStatus.AWAITING.value,
        created_at=now,
        status_changed_at=now,
        status_changed_by=f"client:{client.client_id}",
    )
    session.add(consent)
    session.flush()
    _change(session, consent, ConsentStatus.AWAITING, f"client:{client.client_id}", now, request_id)
    return consent


def _settle_expiry(session: Session, consent: Consent, now: dt.datetime) -> None:
    """Record that an Authorised or waiting consent ran out (the sweeper does the same)."""
    if consent.expires_at <= now and consent.status in (
        ConsentStatus.AUTHORISED.value,
        ConsentStatus.AWAITING.value,
    ):
        _change(session, consent, ConsentStatus.EXPIRED, "system", now)


def observe(session: Session, consent: Consent, now: dt.datetime) -> Consent:
    """The consent as of ``now``: an expiry that has passed is recorded when seen."""
    _settle_expiry(session, consent, now)
    return consent


def _require_enterprise_user(user: User, consent: Consent) -> None:
    if user.kind != UserKind.ENTERPRISE.value or user.uscc != consent.uscc:
        raise NotFound("no such consent")
    if user.authenticated_at is None:
        raise Conflict(
            "the enterprise must be authenticated (认证) before it grants consent",
            error="enterprise_not_authenticated",
        )


def authorise(session: Session, consent: Consent, user: User, now: dt.datetime) -> None:
    _require_enterprise_user(user, consent)
    _settle_expiry(session, consent, now)
    if consent.status != ConsentStatus.AWAITING.value:
        raise Conflict(f"the consent is {consent.status}, not awaiting authorisation")
    _change(session, consent, ConsentStatus.AUTHORISED, f"user:{user.id}", now)


def reject(session: Session, consent: Consent, user: User, now: dt.datetime) -> None:
    _require_enterprise_user(user, consent)
    _settle_expiry(session, consent, now)
    if consent.status != ConsentStatus.AWAITING.value:
        raise Conflict(f"the consent is {consent.status}, not awaiting authorisation")
    _change(session, consent, ConsentStatus.REJECTED, f"user:{user.id}", now)


def revoke(
    session: Session, consent: Consent, by: str, now: dt.datetime, request_id: str | None = None
) -> None:
    """End a consent now (the enterprise or the bank). A waiting consent the bank
    withdraws is Rejected; an Authorised one is Revoked."""
    _settle_expiry(session, consent, now)
    if consent.status == ConsentStatus.AUTHORISED.value:
        _change(session, consent, ConsentStatus.REVOKED, by, now, request_id)
    elif consent.status == ConsentStatus.AWAITING.value:
        _change(session, consent, ConsentStatus.REJECTED, by, now, request_id)
    else:
        raise Conflict(f"the consent is already {consent.status}")


def grant_for_application(
    session: Session,
    *,
    client: OAuthClient,
    user: User,
    application_id: int,
    categories: Iterable[str],
    data_from: dt.date,
    data_to: dt.date,
    expires_at: dt.datetime,
    max_calls_per_day: int,
    now: dt.datetime,
    purpose: str | None = None,
) -> Consent:
    """Platform-initiated consent (the 310 flow): the enterprise user grants it inside
    its loan application, so it is Authorised at once. The bank then obtains a DPoP-bound
    token for it with the client-credentials grant and ``consent_id``."""
    if user.uscc is None:
        raise Invalid("only an enterprise user grants consent")
    consent = create(
        session,
        client=client,
        uscc=user.uscc,
        categories=categories,
        data_from=data_from,
        data_to=data_to,
        purpose=purpose or f"loan application {application_id}",
        expires_at=expires_at,
        max_calls_per_day=max_calls_per_day,
        now=now,
        application_id=application_id,
        origin="platform",
    )
    authorise(session, consent, user, now)
    return consent


def expire_due(session: Session, now: dt.datetime) -> int:
    """The sweeper: mark every consent past its expiry Expired. Calls are refused at
    the expiry instant whether or not this has run."""
    due = list(
        session.scalars(
            select(Consent).where(
                Consent.expires_at <= now,
                Consent.status.in_((ConsentStatus.AUTHORISED.value, ConsentStatus.AWAITING.value)),
            )
        )
    )
    for consent in due:
        _change(session, consent, ConsentStatus.EXPIRED, "system", now)
    return len(due)


class ConsentView(Protocol):
    """What coverage needs of a consent: the stored row, or the guard's read of it."""

    @property
    def client_id(self) -> str: ...
    @property
    def uscc(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def expires_at(self) -> dt.datetime: ...
    @property
    def data_from(self) -> dt.date: ...
    @property
    def data_to(self) -> dt.date: ...
    @property
    def category_list(self) -> list[str]: ...


def is_live(consent: ConsentView, now: dt.datetime) -> bool:
    return consent.status == ConsentStatus.AUTHORISED.value and consent.expires_at > now


def covers(
    consent: ConsentView,
    *,
    client_id: str,
    uscc: str,
    category: str,
    date_from: dt.date,
    date_to: dt.date,
    now: dt.datetime,
) -> bool:
    """The one definition of coverage: live, same client, same enterprise, the category
    named, the dates inside the consented range."""
    return (
        is_live(consent, now)
        and consent.client_id == client_id
        and consent.uscc == uscc
        and category in consent.category_list
        and consent.data_from <= date_from <= date_to <= consent.data_to
    )


def day_start(now: dt.datetime) -> dt.datetime:
    """Midnight in Asia/Shanghai of ``now``'s day, in UTC: the daily limit's window."""
    local = now.astimezone(SHANGHAI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def local_day(now: dt.datetime) -> dt.date:
    """The Asia/Shanghai date of ``now``: the day a call counts against."""
    return now.astimezone(SHANGHAI).date()


# Scoped queries: one helper per audience, so no list leaks another party's consents.
def for_enterprise(uscc: str) -> Select[Consent]:
    return select(Consent).where(Consent.uscc == uscc).order_by(Consent.created_at.desc())


def for_client(client_id: str) -> Select[Consent]:
    return select(Consent).where(Consent.client_id == client_id).order_by(Consent.created_at.desc())


def get_scoped(session: Session, query: Select[Consent], consent_id: str) -> Consent:
    consent = session.scalar(query.where(Consent.id == consent_id))
    if consent is None:
        raise NotFound("no such consent", consent_id=consent_id, error="not_found")
    return consent


def changes(session: Session, consent_id: str) -> list[ConsentChange]:
    return list(
        session.scalars(
            select(ConsentChange)
            .where(ConsentChange.consent_id == consent_id)
            .order_by(ConsentChange.id)
        )
    )
