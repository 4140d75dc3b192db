"""The 310 application: the enterprise opens a draft against a product's online version,
submits it (granting the product's consent in the same step, with an Idempotency-Key),
withdraws it or accepts the offer; the bank sees its queue and decides referred ones.

Every state change goes through ``states.fire``; the effects of a transition (the
decision job through the outbox, the bank's webhook events) are registered here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from authz.consents import service as consents
from authz.models import ClientStatus, OAuthClient, User
from authz.webhooks.service import record_client_event
from finance.core import outbox
from finance.core.errors import Conflict, Invalid, NotFound
from finance.core.settings import get_settings
from finance.govdata.categories import REGISTRY
from finance.lending.models import (
    ApplicationDecision,
    ApplicationStatus,
    ApplicationTransition,
    LoanApplication,
)
from finance.lending.schedule import add_months
from finance.lending.states import Actor, ActorKind, Event, fire, on_transition
from products.models import ProductVersion, VersionStatus

DECIDE_TASK = "lending.decide"
OFFER_DAYS = 30  # an approval not accepted within this many days expires
CONSENT_DAYS = 90  # the application's consent lasts this long
CONSENT_CALLS_PER_DAY = 20


@dataclass(frozen=True)
class DraftForm:
    product_version_id: int
    amount_fen: int
    term_months: int
    repayment_method: str
    purpose: str


def enterprise_actor(user: User) -> Actor:
    return Actor(ActorKind.ENTERPRISE, f"user:{user.id}")


def _online_version(session: Session, version_id: int) -> ProductVersion:
    version = session.get(ProductVersion, version_id)
    if version is None or version.status != VersionStatus.ONLINE.value:
        raise NotFound("no such product version online", product_version_id=version_id)
    return version


def _check_terms(version: ProductVersion, form: DraftForm) -> None:
    errors = []
    if not version.min_amount_fen <= form.amount_fen <= version.max_amount_fen:
        errors.append(
            {
                "pointer": "/amount_fen",
                "detail": f"the product lends {version.min_amount_fen}"
                f"-{version.max_amount_fen} fen",
            }
        )
    if not version.min_term_months <= form.term_months <= version.max_term_months:
        errors.append(
            {
                "pointer": "/term_months",
                "detail": f"the product's terms are {version.min_term_months}"
                f"-{version.max_term_months} months",
            }
        )
    if form.repayment_method not in version.repayment_methods:
        errors.append(
            {
                "pointer": "/repayment_method",
                "detail": f"the product is repaid by {', '.join(version.repayment_methods)}",
            }
        )
    if errors:
        raise Invalid("the application does not fit the product's terms", errors=errors)


def open_draft(session: Session, user: User, form: DraftForm, now: dt.datetime) -> LoanApplication:
    """The enterprise opens the form: a draft against the product's online version (the
    310 clock starts here)."""
    if user.uscc is None:
        raise Invalid("only an enterprise user applies")
    version = _online_version(session, form.product_version_id)
    _check_terms(version, form)
    application = LoanApplication(
        uscc=user.uscc,
        product_id=version.product_id,
        product_version_id=version.id,
        bank_id=version.bank_id,
        amount_fen=form.amount_fen,
        term_months=form.term_months,
        repayment_method=form.repayment_method,
        purpose=form.purpose.strip()[:200],
        applied_at=now,
        status=ApplicationStatus.DRAFT.value,
        status_changed_at=now,
        channel="online",
        user_id=user.id,
        version=1,
    )
    session.add(application)
    session.flush()
    session.add(
        ApplicationTransition(
            application_id=application.id,
            event="open",
            from_status=None,
            to_status=ApplicationStatus.DRAFT.value,
            actor=str(enterprise_actor(user)),
            at=now,
        )
    )
    session.flush()
    return application


def consent_terms(
    session: Session, application: LoanApplication, now: dt.datetime
) -> dict[str, Any]:
    """What the enterprise grants by submitting, in plain words."""
    version = session.get(ProductVersion, application.product_version_id)
    if version is None:
        raise NotFound("the application's product version is gone")
    data_to = now.date()
    data_from = add_months(data_to, -version.consent_months)
    categories = [name for name in sorted(version.data_categories) if name in REGISTRY]
    zh_names = "、".join(REGISTRY[name].zh for name in categories)
    en_names = ", ".join(REGISTRY[name].en for name in categories)
    return {
        "bank_id": application.bank_id,
        "categories": [
            {"name": name, "zh": REGISTRY[name].zh, "en": REGISTRY[name].en} for name in categories
        ],
        "data_from": data_from,
        "data_to": data_to,
        "expires_at": now + dt.timedelta(days=CONSENT_DAYS),
        "purpose": f"loan application {application.id}",
        "zh": f"授权该银行读取贵企业{version.consent_months}个月内的{zh_names}数据，"
        f"用于第{application.id}号贷款申请，有效期{CONSENT_DAYS}天。",
        "en": f"The bank may read your {en_names} data of the last "
        f"{version.consent_months} months for loan application {application.id}, "
        f"for {CONSENT_DAYS} days.",
    }


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _bank_client(session: Session, bank_id: int) -> OAuthClient:
    client = session.scalar(
        select(OAuthClient)
        .where(OAuthClient.bank_id == bank_id, OAuthClient.status == ClientStatus.ACTIVE.value)
        .order_by(OAuthClient.id)
        .limit(1)
    )
    if client is None:
        raise Conflict(
            "the bank has no active data-service client and cannot take applications yet",
            error="bank_not_connected",
        )
    return client


def _by_key(session: Session, uscc: str, key: str) -> LoanApplication | None:
    return session.scalar(
        select(LoanApplication).where(
            LoanApplication.uscc == uscc, LoanApplication.idempotency_key == key
        )
    )


def submit(
    session: Session,
    user: User,
    application_id: int,
    *,
    idempotency_key: str,
    body: dict[str, Any],
    consent_granted: bool,
    now: dt.datetime,
) -> tuple[LoanApplication, bool]:
    """Submit a draft, granting the product's consent in the same step. The same key
    with the same body answers the application it made (``False``: nothing new); the
    same key with another body is refused."""
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 100:
        raise Invalid("the Idempotency-Key header is required (1-100 characters)")
    digest = request_hash({"application_id": application_id, **body})
    assert user.uscc is not None
    earlier = _by_key(session, user.uscc, key)
    if earlier is not None:
        if earlier.request_hash != digest:
            raise Invalid(
                "this Idempotency-Key was used for another request",
                error="idempotency_key_reused",
            )
        return earlier, False
    application = get_for_enterprise(session, user.uscc, application_id)
    if not consent_granted:
        raise Invalid(
            "no consent, no application: grant the product's consent to submit",
            error="consent_required",
            consent=consent_terms(session, application, now)
            if application.product_version_id
            else None,
        )
    if application.status != ApplicationStatus.DRAFT.value:
        fire(session, application, Event.SUBMIT, enterprise_actor(user), now)  # raises 409
    version = _online_version(session, application.product_version_id or 0)
    terms = consent_terms(session, application, now)
    client = _bank_client(session, application.bank_id)
    consent = consents.grant_for_application(
        session,
        client=client,
        user=user,
        application_id=application.id,
        categories=sorted(version.data_categories),
        data_from=terms["data_from"],
        data_to=terms["data_to"],
        expires_at=terms["expires_at"],
        max_calls_per_day=CONSENT_CALLS_PER_DAY,
        now=now,
        purpose=terms["purpose"],
    )
    application.client_id = client.client_id
    application.consent_id = consent.id
    application.idempotency_key = key
    application.request_hash = digest
    session.flush()
    fire(session, application, Event.SUBMIT, enterprise_actor(user), now)
    return application, True


def withdraw(
    session: Session, user: User, application_id: int, reason: str | None, now: dt.datetime
) -> LoanApplication:
    """The enterprise withdraws before disbursement; the application's consent ends
    with it."""
    assert user.uscc is not None
    application = get_for_enterprise(session, user.uscc, application_id)
    fire(session, application, Event.WITHDRAW, enterprise_actor(user), now, reason)
    _end_consent(session, application, f"user:{user.id}", now)
    return application


def accept(session: Session, user: User, application_id: int, now: dt.datetime) -> LoanApplication:
    assert user.uscc is not None
    application = get_for_enterprise(session, user.uscc, application_id)
    if application.offer_expires_at is not None and application.offer_expires_at <= now:
        raise Conflict("the offer has expired", error="offer_expired")
    fire(session, application, Event.ACCEPT, enterprise_actor(user), now)
    return application


def officer_decision(
    session: Session,
    bank_id: int,
    application_id: int,
    *,
    approve: bool,
    note: str,
    actor: Actor,
    now: dt.datetime,
) -> LoanApplication:
    """A bank officer approves or declines a referred application, with a note. An
    approval keeps the indicative offer the policy computed."""
    application = get_for_bank(session, bank_id, application_id)
    event = Event.APPROVE if approve else Event.DECLINE
    fire(session, application, event, actor, now, note)
    if approve:
        application.offer_expires_at = now + dt.timedelta(days=OFFER_DAYS)
        session.flush()
    return application


def expire_offers(session: Session, now: dt.datetime) -> int:
    """The beat sweep: approvals not accepted in time expire."""
    due = session.scalars(
        select(LoanApplication).where(
            LoanApplication.status == ApplicationStatus.APPROVED.value,
            LoanApplication.offer_expires_at <= now,
        )
    ).all()
    expired = 0
    for application in due:
        try:
            fire(
                session,
                application,
                Event.EXPIRE,
                Actor(ActorKind.SYSTEM, "expiry"),
                now,
                f"the offer was not accepted within {OFFER_DAYS} days",
            )
        except Conflict:  # accepted or withdrawn at the same moment: that one stands
            continue
        _end_consent(session, application, "system", now)
        expired += 1
    return expired


def _end_consent(session: Session, application: LoanApplication, by: str, now: dt.datetime) -> None:
    from authz.models import Consent, ConsentStatus

    if application.consent_id is None:
        return
    consent = session.get(Consent, application.consent_id)
    if consent is not None and consent.status == ConsentStatus.AUTHORISED.value:
        consents.revoke(session, consent, by, now)


# ------------------------------------------------------------------ scoped reads


def for_enterprise(uscc: str) -> Select[LoanApplication]:
    return select(LoanApplication).where(
        LoanApplication.uscc == uscc, LoanApplication.synthetic.is_(False)
    )


def for_bank(bank_id: int) -> Select[LoanApplication]:
    return select(LoanApplication).where(
        LoanApplication.bank_id == bank_id, LoanApplication.synthetic.is_(False)
    )


def _one(session: Session, query: Select[LoanApplication], application_id: int) -> LoanApplication:
    application = session.scalar(query.where(LoanApplication.id == application_id))
    if application is None:
        raise NotFound("no such application", application_id=application_id)
    return application


def get_for_enterprise(session: Session, uscc: str, application_id: int) -> LoanApplication:
    return _one(session, for_enterprise(uscc), application_id)


def get_for_bank(session: Session, bank_id: int, application_id: int) -> LoanApplication:
    return _one(session, for_bank(bank_id), application_id)


def timeline(session: Session, application_id: int) -> list[ApplicationTransition]:
    return list(
        session.scalars(
            select(ApplicationTransition)
            .where(ApplicationTransition.application_id == application_id)
            .order_by(ApplicationTransition.id)
        )
    )


def with_decision(
    session: Session, application: LoanApplication
) -> tuple[LoanApplication, ApplicationDecision | None]:
    """The application re-read together with its decision in one statement, so both come
    from one snapshot: read one after the other, a decision committed in between would
    show beside the status it replaced (each statement of a read sees the latest commit,
    on SQLite and on PostgreSQL's read committed alike)."""
    row = session.execute(
        select(LoanApplication, ApplicationDecision)
        .outerjoin(ApplicationDecision, ApplicationDecision.application_id == LoanApplication.id)
        .where(LoanApplication.id == application.id)
        .execution_options(populate_existing=True)
    ).one()
    return row[0], row[1]


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    product_id: int | None = None
    outcome: str | None = None  # the automatic decision: approved | referred | declined
    submitted_from: dt.datetime | None = None
    submitted_to: dt.datetime | None = None


def encode_cursor(application_id: int) -> str:
    return base64.urlsafe_b64encode(str(application_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("the cursor is not one this API gave", error="bad_cursor") from exc


def bank_queue(
    session: Session, bank_id: int, filters: QueueFilter, cursor: str | None, limit: int
) -> tuple[list[LoanApplication], str | None]:
    """The bank's applications, newest first, a page at a time (keyset on the id).
    Drafts are the enterprise's own and not listed."""
    query = for_bank(bank_id).where(LoanApplication.status != ApplicationStatus.DRAFT.value)
    if filters.status:
        if filters.status not in {s.value for s in ApplicationStatus}:
            raise Invalid(
                f"unknown status {filters.status}", known=[s.value for s in ApplicationStatus]
            )
        query = query.where(LoanApplication.status == filters.status)
    if filters.product_id is not None:
        query = query.where(LoanApplication.product_id == filters.product_id)
    if filters.submitted_from is not None:
        query = query.where(LoanApplication.submitted_at >= filters.submitted_from)
    if filters.submitted_to is not None:
        query = query.where(LoanApplication.submitted_at < filters.submitted_to)
    if filters.outcome:
        query = query.join(
            ApplicationDecision, ApplicationDecision.application_id == LoanApplication.id
        ).where(ApplicationDecision.outcome == filters.outcome)
    if cursor:
        query = query.where(LoanApplication.id < decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(LoanApplication.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


# ------------------------------------------------------------------ effects


@on_transition
def _queue_decision(
    session: Session, application: LoanApplication, event: Event, now: dt.datetime
) -> None:
    """A submission asks for the automatic decision, after commit (the outbox)."""
    if event is Event.SUBMIT:
        outbox.enqueue(
            session, DECIDE_TASK, queue=get_settings().lending_queue, application_id=application.id
        )


_WEBHOOK_OF = {
    Event.SUBMIT: "application.submitted",
    Event.APPROVE: "application.decided",
    Event.REFER: "application.decided",
    Event.DECLINE: "application.decided",
}


@on_transition
def _notify_bank(
    session: Session, application: LoanApplication, event: Event, now: dt.datetime
) -> None:
    webhook = _WEBHOOK_OF.get(event)
    if webhook is None:
        return
    notify_bank(
        session,
        application,
        webhook,
        {
            "application_id": application.id,
            "status": application.status,
            "uscc": application.uscc,
            "product_id": application.product_id,
            "amount_fen": application.amount_fen,
            "at": now.isoformat(),
        },
        now,
    )


def notify_bank(
    session: Session,
    application: LoanApplication,
    event_type: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> None:
    """An event for the bank's client the application was made to: in its event log,
    and signed to its webhook URL when it has one."""
    if application.client_id is None:
        return
    client = session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == application.client_id)
    )
    record_client_event(
        session,
        client_id=application.client_id,
        webhook=client is not None and bool(client.webhook_url),
        event_type=event_type,
        payload=payload,
        now=now,
        consent_id=application.consent_id,
    )


def resume_stalled(session: Session, before: dt.datetime) -> int:
    """Ask again for the decision of every application still between submission and
    decision since ``before`` (the task is idempotent, so a duplicate costs nothing)."""
    stalled = session.scalars(
        select(LoanApplication.id).where(
            LoanApplication.status.in_(
                (ApplicationStatus.SUBMITTED.value, ApplicationStatus.DATA_COLLECTED.value)
            ),
            LoanApplication.status_changed_at < before,
            LoanApplication.synthetic.is_(False),
        )
    ).all()
    for application_id in stalled:
        outbox.enqueue(
            session, DECIDE_TASK, queue=get_settings().lending_queue, application_id=application_id
        )
    return len(stalled)


# ------------------------------------------------------------------ 310 service levels

STEPS = ("to_apply", "to_data", "to_decision", "to_disbursement")


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def service_levels(application: LoanApplication) -> dict[str, float | None]:
    """The 310 clock of one application: form opened -> submitted (apply), submitted ->
    data collected (data), submitted -> decided (decision), submitted -> disbursed."""
    return {
        "to_apply": _seconds(application.applied_at, application.submitted_at),
        "to_data": _seconds(application.submitted_at, application.data_collected_at),
        "to_decision": _seconds(application.submitted_at, application.decided_at),
        "to_disbursement": _seconds(application.submitted_at, application.disbursed_at),
    }


def _figures(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_seconds": None, "p95_seconds": None, "mean_seconds": None}
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "median_seconds": rank(0.5),
        "p95_seconds": rank(0.95),
        "mean_seconds": sum(ordered) / len(ordered),
    }


def bank_service_levels(
    session: Session, bank_id: int, since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, Any]:
    """Median, p95 and mean of each step over the bank's applications submitted in
    [since, until)."""
    query = for_bank(bank_id).where(LoanApplication.submitted_at.is_not(None))
    if since is not None:
        query = query.where(LoanApplication.submitted_at >= since)
    if until is not None:
        query = query.where(LoanApplication.submitted_at < until)
    levels = [service_levels(application) for application in session.scalars(query)]
    return {
        "bank_id": bank_id,
        "since": since,
        "until": until,
        "applications": len(levels),
        **{
            step: _figures([v for level in levels if (v := level[step]) is not None])
            for step in STEPS
        },
    }
