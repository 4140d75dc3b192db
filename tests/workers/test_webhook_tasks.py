"""The consent-webhook task in a real Celery worker process: it delivers a signed event to
a real local HTTP receiver that verifies the JWS with the keys the platform publishes at
``/oauth2/jwks``, and delivers it again after the receiver first failed, on the backoff."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from celery import Celery
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.models import ConsentEvent
from authz.webhooks import service as webhooks
from finance.app import create_app
from finance.core.settings import Settings
from tests.authz.support import Receiver, authorised_consent

ISSUER = "https://platform.test"


@pytest.fixture(autouse=True)
def _issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker signs events as this issuer (it reads the environment)."""
    monkeypatch.setenv("FINANCE_PUBLIC_URL", ISSUER)


@pytest.fixture
def published_keys(settings: Settings) -> KeySet:
    """The platform's signing keys, as a bank fetches them."""
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        response = http.get("/oauth2/jwks")
        assert response.status_code == 200
        return KeySet.import_key_set(response.json())


@pytest.fixture
def receiver(published_keys: KeySet) -> Iterator[Receiver]:
    def verifies(body: bytes) -> bool:
        try:
            verified = jws.deserialize_compact(body, published_keys, algorithms=["ES256"])
        except (JoseError, ValueError):
            return False
        claims = json.loads(verified.payload)
        return bool(verified.headers()["typ"] == "consent-event+jwt" and claims["iss"] == ISSUER)

    running = Receiver(accept=verifies)
    yield running
    running.close()


def _event(session: Session, consent_id: str) -> ConsentEvent:
    session.rollback()  # a fresh look at what the worker committed
    event = session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.consent_id == consent_id, ConsentEvent.type == "consent.authorised"
        )
    )
    assert event is not None
    return event


def _wait(session: Session, consent_id: str, attempts: int, timeout: float = 60.0) -> ConsentEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = _event(session, consent_id)
        if event.attempts >= attempts:
            return event
        time.sleep(0.2)
    raise AssertionError(f"the worker made fewer than {attempts} attempts within {timeout}s")


@pytest.mark.slow
def test_worker_delivers_a_signed_webhook_and_retries_after_a_failure(
    settings: Settings,
    session: Session,
    receiver: Receiver,
    worker: tuple[Celery, str],
) -> None:
    celery, queue = worker
    client_id, consent_id = authorised_consent(session, receiver.url)
    receiver.fail_next = 1

    celery.send_task("authz.deliver_webhooks", queue=queue)
    failed = _wait(session, consent_id, attempts=1)
    assert receiver.statuses == [503]
    assert failed.delivered_at is None
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at - failed.created_at >= webhooks.BACKOFF[0]

    wait = (failed.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    time.sleep(max(0.0, wait) + 0.2)
    celery.send_task("authz.deliver_webhooks", queue=queue)
    delivered = _wait(session, consent_id, attempts=2)

    assert receiver.statuses == [503, 204]  # 204: the receiver verified the JWS
    assert delivered.delivered_at is not None
    claims = json.loads(jws.extract_compact(receiver.bodies[0]).payload)
    assert claims["type"] == "consent.authorised"
    assert claims["aud"] == client_id
    assert claims["data"]["consent_id"] == consent_id
    assert [a.status_code for a in webhooks.attempts(session, delivered.id)] == [503, 204]
