"""The housekeeping task in a real Celery worker process: consents past their expiry
become Expired with their ``consent.expired`` event queued for the bank, and one-time
identifiers past their replay horizon are purged while live ones stay. Beat schedules
it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery import Celery
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from authz.models import Consent, ConsentEvent, UsedJti
from finance.core.settings import Settings
from tests.authz.support import authorised_consent
from workers.app import make_app


def test_beat_runs_housekeeping_every_minute(settings: Settings) -> None:
    schedule = make_app(settings).conf.beat_schedule
    assert schedule["authz-housekeeping"]["task"] == "authz.housekeeping"
    assert schedule["authz-housekeeping"]["schedule"] == 60.0


@pytest.mark.slow
def test_worker_expires_consents_and_purges_spent_jtis(
    settings: Settings, session: Session, worker: tuple[Celery, str]
) -> None:
    celery, queue = worker
    _, lapsed = authorised_consent(session, "https://bank.example/hook")
    now = dt.datetime.now(dt.UTC)
    session.execute(
        update(Consent).where(Consent.id == lapsed).values(expires_at=now - dt.timedelta(hours=1))
    )
    session.execute(
        insert(UsedJti),
        [
            {"digest": "a" * 64, "expires_at": now - dt.timedelta(minutes=5)},  # spent
            {"digest": "b" * 64, "expires_at": now + dt.timedelta(minutes=5)},  # still live
        ],
    )
    session.commit()

    result = celery.send_task("authz.housekeeping", queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        session.rollback()  # a fresh look at what the worker committed
        if session.scalar(select(Consent.status).where(Consent.id == lapsed)) == "Expired":
            break
        time.sleep(0.2)
    assert session.scalar(select(Consent.status).where(Consent.id == lapsed)) == "Expired"
    assert result.id
    events = session.scalars(
        select(ConsentEvent.type).where(ConsentEvent.consent_id == lapsed)
    ).all()
    assert "consent.expired" in events
    assert session.scalars(select(UsedJti.digest)).all() == ["b" * 64]

    # Delivered twice, it changes nothing more.
    celery.send_task("authz.housekeeping", queue=queue)
    time.sleep(3)
    session.rollback()
    assert (
        session.scalars(select(ConsentEvent.type).where(ConsentEvent.consent_id == lapsed)).all()
        == events
    )
