"""Consent events reach the bank: a per-client event log, and signed webhooks POSTed to a
real local HTTP receiver, retried on the backoff schedule with every attempt recorded."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select

from authz.models import ConsentEvent
from authz.webhooks import service as webhooks
from tests.authz.support import BASE, Receiver, World, data_token, register_client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _deliver(world: World) -> int:
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    with httpx.Client() as http, world.sessions.begin() as session:
        return webhooks.deliver_due(session, runtime.keyring, issuer=BASE, now=world.now, http=http)


def test_signed_webhook_with_retries(world: World, receiver: Receiver) -> None:
    bank = register_client(world, webhook_url=receiver.url)
    consent_id, _token = data_token(world, bank)
    receiver.fail_next = 2

    assert _deliver(world) == 0  # 503: retried in 10 s
    world.clock.advance(seconds=5)
    assert _deliver(world) == 0  # not due yet: nothing sent
    world.clock.advance(seconds=5)
    assert _deliver(world) == 0  # second 503: next in 1 min
    world.clock.advance(seconds=60)
    assert _deliver(world) == 1

    body = receiver.bodies[0].decode()
    jwks = KeySet.import_key_set(world.http.get("/oauth2/jwks").json())
    verified = jws.deserialize_compact(body, jwks)
    assert verified.headers()["typ"] == "consent-event+jwt"
    claims = json.loads(verified.payload)
    assert claims["type"] == "consent.authorised"
    assert claims["data"]["consent_id"] == consent_id
    assert claims["aud"] == bank.client_id

    with world.session() as session:
        event = session.scalar(select(ConsentEvent).where(ConsentEvent.consent_id == consent_id))
        assert event is not None
        attempts = webhooks.attempts(session, event.id)
    assert [a.status_code for a in attempts] == [503, 503, 204]
    assert attempts[1].at - attempts[0].at == dt.timedelta(seconds=10)
    assert _deliver(world) == 0  # delivered once only


def test_unreachable_receiver_gives_up_after_the_schedule(world: World) -> None:
    bank = register_client(world, webhook_url="http://127.0.0.1:9/hooks")
    data_token(world, bank)
    for delay in (*webhooks.BACKOFF, dt.timedelta(0)):
        assert _deliver(world) == 0
        world.clock.advance(seconds=delay.total_seconds())
    with world.session() as session:
        event = session.scalar(select(ConsentEvent))
        assert event is not None
        assert event.attempts == webhooks.MAX_ATTEMPTS
        assert event.gave_up_at is not None
        assert all(a.error for a in webhooks.attempts(session, event.id))


def test_worker_task_delivers_due_events(world: World, receiver: Receiver) -> None:
    from workers.webhooks import deliver_webhooks

    bank = register_client(world, webhook_url=receiver.url)
    # The task runs on the real clock: the event must be due by now.
    world.clock.now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    data_token(world, bank)
    result = deliver_webhooks.apply()
    assert result.successful(), result.traceback
    assert result.get() == 1
    assert len(receiver.bodies) == 1
    assert deliver_webhooks.apply().get() == 0
