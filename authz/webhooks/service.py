"""Events for banks: consent changes and financing demands pushed to the bank.

Every event is kept in the client's event log (``GET /api/v1/events``, polled with a
cursor) and, when the client registered a webhook URL, POSTed to it as a compact JWS
signed with the platform's current key (``typ: consent-event+jwt`` or
``demand-event+jwt`` by the event's subject, verifiable with the published JWKS). A
failed delivery is retried on ``BACKOFF``; every attempt is recorded.
Delivery runs from a worker task that takes no arguments and calls ``deliver_due``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

import httpx
from joserfc import jws
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.models import ConsentEvent, OAuthClient, WebhookAttempt
from authz.oauth.keys import ALGORITHM, KeyRing

if TYPE_CHECKING:
    from authz.models import Consent

log = logging.getLogger("authz.webhooks")
BACKOFF = (
    dt.timedelta(seconds=10),
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT = httpx.Timeout(5.0)


def record_event(session: Session, consent: Consent, event_type: str, now: dt.datetime) -> None:
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == consent.client_id))
    record_client_event(
        session,
        client_id=consent.client_id,
        webhook=client is not None and bool(client.webhook_url),
        event_type=event_type,
        payload={
            "consent_id": consent.id,
            "status": consent.status,
            "uscc": consent.uscc,
            "at": now.isoformat(),
            "by": consent.status_changed_by,
        },
        now=now,
        consent_id=consent.id,
    )


def record_client_event(
    session: Session,
    *,
    client_id: str,
    webhook: bool,
    event_type: str,
    payload: dict[str, Any],
    now: dt.datetime,
    consent_id: str | None = None,
) -> None:
    """Append an event to ``client_id``'s log; ``webhook``: also deliver it to the
    client's webhook URL. ``event_type`` is "<subject>.<what>" ("consent.revoked",
    "demand.pushed"); the subject names the signed body's ``typ``."""
    session.add(
        ConsentEvent(
            client_id=client_id,
            type=event_type,
            consent_id=consent_id,
            payload=payload,
            created_at=now,
            next_attempt_at=now if webhook else None,
        )
    )


def event_log(
    session: Session, client_id: str, after: int = 0, limit: int = 100
) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.client_id == client_id, ConsentEvent.id > after)
            .order_by(ConsentEvent.id)
            .limit(max(1, min(limit, 500)))
        )
    )


def signed_body(keyring: KeyRing, event: ConsentEvent, issuer: str, now: dt.datetime) -> str:
    snapshot = keyring.snapshot()
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": event.client_id,
        "iat": int(now.timestamp()),
        "jti": secrets.token_urlsafe(16),
        "event_id": event.id,
        "type": event.type,
        "data": event.payload,
    }
    subject = event.type.partition(".")[0]  # "consent-event+jwt", "demand-event+jwt"
    header = {"alg": ALGORITHM, "typ": f"{subject}-event+jwt", "kid": snapshot.signing.kid}
    return jws.serialize_compact(header, json.dumps(claims).encode(), snapshot.signing)


def deliver_due(
    session: Session,
    keyring: KeyRing,
    *,
    issuer: str,
    now: dt.datetime,
    http: httpx.Client,
    limit: int = 100,
) -> int:
    """Attempt every event whose next attempt is due; returns how many were delivered."""
    due = list(
        session.scalars(
            select(ConsentEvent)
            .where(
                ConsentEvent.delivered_at.is_(None),
                ConsentEvent.gave_up_at.is_(None),
                ConsentEvent.next_attempt_at.is_not(None),
                ConsentEvent.next_attempt_at <= now,
            )
            .order_by(ConsentEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    delivered = 0
    for event in due:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == event.client_id))
        if client is None or not client.webhook_url:
            event.next_attempt_at = None
            continue
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(
                client.webhook_url,
                content=signed_body(keyring, event, issuer, now),
                headers={"Content-Type": "application/jose"},
                timeout=TIMEOUT,
            )
            status = response.status_code
            if not 200 <= status < 300:
                error = f"receiver answered {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        event.attempts += 1
        session.add(WebhookAttempt(event_id=event.id, at=now, status_code=status, error=error))
        if error is None:
            event.delivered_at = now
            event.next_attempt_at = None
            delivered += 1
        elif event.attempts >= MAX_ATTEMPTS:
            event.gave_up_at = now
            event.next_attempt_at = None
            log.warning("webhook abandoned", extra={"event_id": event.id, "error": error})
        else:
            event.next_attempt_at = now + BACKOFF[event.attempts - 1]
    session.flush()
    return delivered


def attempts(session: Session, event_id: int) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.event_id == event_id)
            .order_by(WebhookAttempt.id)
        )
    )
