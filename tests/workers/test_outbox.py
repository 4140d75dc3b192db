"""The transactional outbox: a job leaves only after its transaction commits, exactly one
relay sends each row, an unreachable broker loses nothing, and a real worker process
runs what the relay sent (and relays on its own what was left behind)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable

import pytest
from celery import Celery
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from authz.models import Consent
from finance.core import outbox
from finance.core.db import session_factory
from finance.core.outbox import OutboxMessage, Relay
from finance.core.settings import Settings
from tests.authz.support import authorised_consent

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


class Recorder:
    """A sender that keeps what it was given (for the claim tests, where the thing under
    test is which relay sends a row, not the broker)."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()

    def __call__(self, message: OutboxMessage) -> None:
        with self.lock:
            self.sent.append(message.id)
        self.arrived.set()


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _lapsed_consent(session: Session) -> str:
    """An Authorised consent whose expiry has passed: the housekeeping task expires it."""
    _, consent_id = authorised_consent(session, "https://bank.example/hook")
    session.execute(
        update(Consent)
        .where(Consent.id == consent_id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    )
    session.commit()
    return consent_id


def _status(engine: Engine, consent_id: str) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(Consent.status).where(Consent.id == consent_id))


def test_a_rolled_back_transaction_sends_nothing_and_a_committed_one_sends_once(
    engine: Engine,
) -> None:
    sessions = session_factory(engine)
    recorder = Recorder()
    relay = Relay(engine, recorder)
    with sessions() as session:
        outbox.enqueue(session, "authz.housekeeping")
        session.rollback()
    assert relay.relay_once().sent == 0
    with sessions.begin() as session:
        kept = outbox.enqueue(session, "authz.housekeeping")
    assert relay.relay_once() == outbox.RelayPass(sent=1, failed=0, pending=0)
    assert relay.relay_once().sent == 0
    assert recorder.sent == [kept]


def test_each_row_is_sent_by_exactly_one_of_several_relays(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        ids = [outbox.enqueue(session, "authz.housekeeping", n=n) for n in range(40)]
    recorder = Recorder()
    relays = [Relay(engine, recorder) for _ in range(3)]
    threads = [threading.Thread(target=relay.relay_once) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorder.sent) == ids
    with sessions() as session:
        assert session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0


def test_the_commit_kicks_the_relay_thread_and_a_rollback_does_not(engine: Engine) -> None:
    sessions = session_factory(engine)
    recorder = Recorder()
    relay = Relay(engine, recorder)
    outbox.install(sessions, relay)
    try:
        with sessions() as session:
            outbox.enqueue(session, "authz.housekeeping")
            session.rollback()
            session.add(OutboxMessage(task="never", kwargs={}, attempts=0))
            session.rollback()
        time.sleep(0.5)
        assert recorder.sent == []
        with sessions.begin() as session:
            sent = outbox.enqueue(session, "authz.housekeeping")
        assert recorder.arrived.wait(10)
        assert recorder.sent == [sent]
    finally:
        relay.close()


@pytest.mark.slow
def test_a_relayed_job_runs_in_a_real_worker(
    settings: Settings, engine: Engine, session: Session, worker: tuple[Celery, str]
) -> None:
    _, queue = worker
    lapsed = _lapsed_consent(session)
    with session_factory(engine).begin() as work:
        outbox.enqueue(work, "authz.housekeeping", queue=queue)
    relay = Relay(engine, outbox.celery_sender(settings))
    assert relay.relay_once().sent == 1
    assert _wait_for(lambda: _status(engine, lapsed) == "Expired")


@pytest.mark.slow
def test_an_unreachable_broker_loses_nothing_and_the_worker_relays_it_later(
    settings: Settings, engine: Engine, session: Session, worker: tuple[Celery, str]
) -> None:
    """The submitting process cannot reach the broker: its commit stands, the row waits
    with the error, and the worker's own relay sends it once it can."""
    _, queue = worker
    lapsed = _lapsed_consent(session)
    with session_factory(engine).begin() as work:
        message_id = outbox.enqueue(work, "authz.housekeeping", queue=queue)
    cut_off = Relay(engine, outbox.celery_sender(settings, UNREACHABLE_BROKER))
    assert cut_off.relay_once() == outbox.RelayPass(sent=0, failed=1, pending=1)
    with Session(engine) as look:
        row = look.get(OutboxMessage, message_id)
        assert row is not None
        assert row.sent_at is None
        assert row.attempts == 1
        assert row.last_error
    # Nobody in this process relays again; the worker's outbox step picks it up.
    assert _wait_for(lambda: _status(engine, lapsed) == "Expired")
    with Session(engine) as look:
        row = look.get(OutboxMessage, message_id)
        assert row is not None
        assert row.sent_at is not None
        assert row.attempts == 2


def test_finance_outbox_shows_the_backlog_and_relays_it(settings: Settings, engine: Engine) -> None:
    from typer.testing import CliRunner

    from finance.cli.main import app

    with session_factory(engine).begin() as session:
        outbox.enqueue(session, "authz.housekeeping", queue="nobody-listens")
    waiting = json.loads(CliRunner().invoke(app, ["outbox", "--json"]).stdout)
    assert waiting["pending"] == 1
    assert waiting["failing"] == 0
    assert dt.datetime.fromisoformat(waiting["oldest"]) <= dt.datetime.now(dt.UTC)

    relayed = CliRunner().invoke(app, ["outbox", "--relay", "--json"])
    assert relayed.exit_code == 0, relayed.stdout
    assert json.loads(relayed.stdout) | {"oldest": None} == {
        "sent": 1,
        "failed": 0,
        "pending": 0,
        "oldest": None,
        "failing": 0,
        "last_error": None,
    }
