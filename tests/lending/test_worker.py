"""The 310 journey with real worker processes (the embedded broker by default, Redis with
``FINANCE_BROKER_URL``; SQLite or PostgreSQL): apply with consent, the decision with
reasons within seconds, the data reads in the enterprise's ledger, accept, disburse,
repay, settled. And the faults: a worker killed mid-decision, an unreachable broker at
submission, a task delivered three times, the consent revoked before the decision."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from authz.models import ConsentEvent, LedgerEntry
from finance.core import outbox
from finance.core.outbox import OutboxMessage
from finance.core.settings import Settings
from finance.lending import book
from finance.lending.models import ApplicationDecision, ApplicationTransition, LoanApplication
from tests.authz.support import World
from tests.lending.support import Journey, live_model, online_version, wait_for
from tests.lending.workers import Workers

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
pytestmark = pytest.mark.slow


@pytest.fixture
def journey(world: World, settings: Settings, session: Session) -> Journey:
    live_model(settings, session)
    with world.sessions.begin() as work:
        version_id = online_version(work, world.bank_id)
    return Journey(world, version_id)


def _decided(journey: Journey, application_id: int) -> dict[str, Any] | None:
    seen = journey.application(application_id)
    return seen if seen["decision"] is not None else None


def _counts(world: World, application_id: int, consent_id: str) -> tuple[int, int, int]:
    """Decision rows, data-call ledger entries, transitions of the application."""
    with world.sessions() as session:
        decisions = session.scalar(
            select(func.count()).where(ApplicationDecision.application_id == application_id)
        )
        calls = session.scalar(
            select(func.count()).where(
                LedgerEntry.action == "data_call", LedgerEntry.consent_id == consent_id
            )
        )
        transitions = session.scalar(
            select(func.count()).where(ApplicationTransition.application_id == application_id)
        )
        return decisions or 0, calls or 0, transitions or 0


def _disburse_offer(
    journey: Journey,
    application_id: int,
    offer: dict[str, Any],
    contract_no: str,
    fees_fen: int,
    disbursed_on: dt.date,
) -> Any:
    """The bank's client disburses the offer (12 months, equal instalments)."""
    return journey.bank_client(
        "POST",
        f"/api/v1/bank/applications/{application_id}/disburse",
        json={
            "contract_no": contract_no,
            "amount_fen": offer["amount_fen"],
            "annual_rate_pct": offer["annual_rate_pct"],
            "term_months": 12,
            "method": "equal_instalment",
            "fees_fen": fees_fen,
            "disbursed_on": disbursed_on.isoformat(),
        },
    )


def test_the_whole_journey_with_a_real_worker(
    world: World, journey: Journey, workers: Workers
) -> None:
    workers.start()
    application = journey.apply(amount_fen=50_000_000)
    decided = wait_for(lambda: _decided(journey, application["id"]), seconds=120)
    assert decided["status"] == "approved", decided["decision"]["reasons"]
    offer = decided["decision"]
    assert offer["model_version"]
    assert 0 < offer["pd"] < 1
    assert offer["band"] in "ABCDE"
    assert offer["amount_fen"] == 50_000_000
    assert offer["annual_rate_pct"] is not None
    assert offer["apr_pct"] is not None
    assert len(offer["schedule"]) == 12
    assert len(offer["reasons"]) <= 4
    assert all(r["zh"] and r["en"] for r in offer["reasons"])
    assert [t["to_status"] for t in decided["timeline"]] == [
        "draft",
        "submitted",
        "data_collected",
        "scored",
        "approved",
    ]
    levels = decided["service_levels"]
    assert levels["to_data"] is not None
    assert levels["to_decision"] >= levels["to_data"]
    ledger = journey.enterprise("GET", "/api/v1/my/ledger").json()
    reads = [e for e in ledger if e["action"] == "data_call"]
    assert [(e["actor"], e["outcome"], e["consent_id"]) for e in reads] == [
        (f"client:{journey.bank.client_id}", "allowed", application["consent_id"])
    ]

    accepted = journey.enterprise("POST", f"/api/v1/applications/{application['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    disbursed_on = dt.date.today()
    loan = _disburse_offer(journey, application["id"], offer, "ZZB-310-1", 10_000, disbursed_on)
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["id"]
    first = loan.json()["schedule"][0]
    paid = journey.bank_staff(
        "POST",
        f"/api/v1/bank/loans/{loan_id}/repayments",
        json={
            "amount_fen": first["principal_fen"] + first["interest_fen"],
            "paid_on": first["due_on"],
        },
    )
    assert paid.status_code == 201, paid.text
    rest = sum(journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()["owed"].values())
    settled = journey.bank_staff(
        "POST",
        f"/api/v1/bank/loans/{loan_id}/repayments",
        json={"amount_fen": rest, "paid_on": disbursed_on.isoformat()},
    )
    assert settled.status_code == 201, settled.text
    final = journey.enterprise("GET", f"/api/v1/loans/{loan_id}").json()
    assert final["status"] == "settled"
    assert journey.application(application["id"])["status"] == "disbursed"


def test_a_task_delivered_three_times_decides_once_with_one_set_of_ledger_entries(
    world: World, journey: Journey, workers: Workers, settings: Settings
) -> None:
    workers.start(concurrency=3)
    workers.start(concurrency=3)
    application = journey.apply()
    producer = Celery("tests", broker=settings.celery_broker_url)
    threads = [
        threading.Thread(
            target=producer.send_task,
            args=("lending.decide",),
            kwargs={"kwargs": {"application_id": application["id"]}, "queue": workers.queue},
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: _decided(journey, application["id"]), seconds=120)
    wait_for(
        lambda: _counts(world, application["id"], application["consent_id"])[0] == 1, seconds=5
    )
    time.sleep(3)  # let the other deliveries run to their end
    assert _counts(world, application["id"], application["consent_id"]) == (1, 1, 5)


def test_an_unreachable_broker_at_submission_loses_nothing(
    world: World,
    journey: Journey,
    workers: Workers,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The web process cannot reach the broker: the submission succeeds, the job waits
    in the outbox, and a worker started later (whose relay reaches the broker) decides."""
    monkeypatch.setattr(
        world.http.app.state.outbox, "_send", outbox.celery_sender(settings, UNREACHABLE_BROKER)
    )
    application = journey.apply()
    assert application["status"] == "submitted"

    def failed_once() -> bool:
        with world.sessions() as session:
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.task == "lending.decide")
            )
            return row is not None and row.attempts >= 1 and row.sent_at is None

    wait_for(failed_once, seconds=30)
    workers.start()
    decided = wait_for(lambda: _decided(journey, application["id"]), seconds=120)
    assert decided["status"] == "approved"
    assert _counts(world, application["id"], application["consent_id"])[:2] == (1, 1)


def test_consent_revoked_between_submission_and_decision_declines_saying_so(
    world: World,
    journey: Journey,
    workers: Workers,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        world.http.app.state.outbox, "_send", outbox.celery_sender(settings, UNREACHABLE_BROKER)
    )
    application = journey.apply()
    revoked = journey.enterprise("POST", f"/api/v1/my/consents/{application['consent_id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    workers.start()
    decided = wait_for(lambda: _decided(journey, application["id"]), seconds=120)
    assert decided["status"] == "declined"
    assert decided["decision"]["reasons"][0]["code"] == "consent_revoked"
    assert "revoked" in decided["decision"]["reasons"][0]["en"]
    assert decided["decision"]["model_version"] is None  # nothing was scored
    with world.sessions() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.action == "data_call")).one()
        assert entry.outcome == "refused"
        assert entry.reason.startswith("consent_revoked")


def test_a_worker_killed_mid_decision_is_replaced_and_the_application_decided_once(
    world: World, journey: Journey, workers: Workers
) -> None:
    """The worker is SIGKILLed while its decision transaction is open (it has read the
    data and waits to write, held by this test at the application's row on PostgreSQL or
    at the write lock on SQLite); after a restart (with beat, whose resume sweep asks
    again for applications left in between) the application is decided exactly once,
    with one set of ledger entries."""
    application = journey.apply()

    def sent() -> bool:
        with world.sessions() as session:
            return bool(
                session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_not(None)))
            )

    wait_for(sent, seconds=30)  # the task waits in the broker; no worker yet
    blocker = world.sessions()
    _hold_the_application(blocker, application["id"])
    try:
        first = workers.start()
        wait_for(lambda: workers.received(first, "lending.decide"), seconds=60)
        time.sleep(2)  # it reads, then waits on our lock
        workers.kill(first)
    finally:
        blocker.rollback()
        blocker.close()
    assert journey.application(application["id"])["decision"] is None
    assert _counts(world, application["id"], application["consent_id"])[:2] == (0, 0)
    workers.start(beat=True)
    decided = wait_for(lambda: _decided(journey, application["id"]), seconds=150)
    assert decided["status"] == "approved"
    time.sleep(2)
    assert _counts(world, application["id"], application["consent_id"]) == (1, 1, 5)


def _hold_the_application(session: Session, application_id: int) -> None:
    """Take the application's row (PostgreSQL) or the database's write lock (SQLite)
    until the session ends."""
    from sqlalchemy import update

    from finance.lending.models import LoanApplication

    session.execute(
        update(LoanApplication)
        .where(LoanApplication.id == application_id)
        .values(purpose=LoanApplication.purpose)
    )


def test_the_daily_tasks_run_in_a_worker_days_past_due_and_expired_offers(
    world: World, journey: Journey, workers: Workers, settings: Settings
) -> None:
    """What beat sends (``lending.days_past_due`` daily, ``lending.expire_offers``)
    runs in a real worker: a loan whose first instalment fell due 120 days ago is
    defaulted and its bank told; an offer past its time expires."""
    worker = workers.start()
    lent, waiting = journey.apply(), journey.apply()
    for application in (lent, waiting):
        decided = wait_for(lambda a=application: _decided(journey, a["id"]), seconds=120)
        assert decided["status"] == "approved", decided["decision"]["reasons"]
    offer = journey.application(lent["id"])["decision"]
    assert journey.enterprise("POST", f"/api/v1/applications/{lent['id']}/accept").is_success
    disbursed_on = dt.date.today() - dt.timedelta(days=150)
    loan = _disburse_offer(journey, lent["id"], offer, "ZZB-310-2", 0, disbursed_on)
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["id"]
    with world.sessions.begin() as session:
        session.execute(
            update(LoanApplication)
            .where(LoanApplication.id == waiting["id"])
            .values(offer_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )

    producer = Celery("tests", broker=settings.celery_broker_url)
    producer.send_task("lending.days_past_due", queue=workers.queue)
    producer.send_task("lending.expire_offers", queue=workers.queue)

    def defaulted() -> dict[str, Any] | None:
        seen: dict[str, Any] = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()
        return seen if seen["status"] == "defaulted" else None

    view = wait_for(defaulted, seconds=60)
    first_due = dt.date.fromisoformat(view["schedule"][0]["due_on"])
    assert view["days_past_due"] == (book.local_today(dt.datetime.now(dt.UTC)) - first_due).days
    assert view["bucket"] == "90+"
    assert workers.received(worker, "lending.days_past_due")
    with world.sessions() as session:
        raised = session.scalars(
            select(ConsentEvent).where(ConsentEvent.type == "loan.overdue")
        ).all()
        assert [e.payload["loan_id"] for e in raised] == [loan_id]
    expired = wait_for(
        lambda: journey.application(waiting["id"])["status"] == "expired", seconds=60
    )
    assert expired
