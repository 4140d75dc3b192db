"""The overdue sweep in a real Celery worker process: a demand whose round ran out is
flagged and pushed to the next banks (each gets its ``demand.pushed`` event); delivered
twice, the task changes nothing more. Beat schedules it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery import Celery
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authz.models import ClientStatus, ConsentEvent, OAuthClient, User
from finance.core.settings import Settings
from finance.demands.models import DemandPush, FinancingDemand
from finance.demands.schemas import DemandIn
from finance.demands.service import MarketRules, open_demand
from finance.enterprises.models import Enterprise
from tests.authz.support import add_enterprise
from tests.demands.support import DEMAND, add_bank, product
from workers import demands as demand_tasks
from workers.app import make_app


def test_beat_sweeps_overdue_demands(settings: Settings) -> None:
    schedule = make_app(settings).conf.beat_schedule
    assert schedule["demands-overdue"]["task"] == "demands.sweep_overdue"
    assert schedule["demands-overdue"]["schedule"] == demand_tasks.INTERVAL.total_seconds()


@pytest.mark.slow
def test_worker_flags_and_pushes_to_the_next_banks(
    settings: Settings, session: Session, worker: tuple[Celery, str]
) -> None:
    celery, queue = worker
    now = dt.datetime.now(dt.UTC)
    uscc = add_enterprise(session, 1)
    banks = [add_bank(session, f"B{n}", now) for n in range(1, 5)]
    for n, bank_id in enumerate(banks, start=1):
        # Fit falls bank by bank: exact guarantee and city, exact guarantee, pure credit.
        terms = (
            {"guarantee": "mortgage", "cities": ["410100"]}
            if n == 1
            else {"guarantee": "mortgage"}
            if n == 2
            else {"rate_min_pct": f"{3 + n / 10:.3f}"}
        )
        product(session, bank_id, f"P{n}", now, **terms)
    staff = session.scalar(select(User).where(User.username == "staff_b3"))
    assert staff is not None
    session.add(
        OAuthClient(
            client_id="b3-client",
            bank_id=banks[2],
            name="B3 data service",
            redirect_uris=[],
            token_endpoint_auth_method="private_key_jwt",
            status=ClientStatus.ACTIVE.value,
            registered_by=staff.id,
            registered_at=now,
        )
    )
    enterprise = session.get(Enterprise, uscc)
    assert enterprise is not None
    demand = open_demand(
        session, enterprise, DemandIn(**DEMAND), now, MarketRules(2, 2), actor="test"
    )
    demand_id = demand.id
    session.execute(
        update(FinancingDemand)
        .where(FinancingDemand.id == demand_id)
        .values(due_at=now - dt.timedelta(minutes=1))
    )
    session.commit()

    celery.send_task("demands.sweep_overdue", queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        session.rollback()  # a fresh look at what the worker committed
        if session.scalar(
            select(FinancingDemand.overdue_count).where(FinancingDemand.id == demand_id)
        ):
            break
        time.sleep(0.2)
    row = session.get(FinancingDemand, demand_id)
    assert row is not None
    assert row.overdue_count == 1
    assert row.push_round == 2
    assert row.due_at is not None
    assert row.due_at > now
    rounds = session.execute(
        select(DemandPush.bank_id, DemandPush.round)
        .where(DemandPush.demand_id == demand_id)
        .order_by(DemandPush.round, DemandPush.rank)
    ).all()
    # The worker's settings push three banks a round: B3 and B4 are all that is left.
    assert [tuple(r) for r in rounds] == [
        (banks[0], 1),
        (banks[1], 1),
        (banks[2], 2),
        (banks[3], 2),
    ]

    # B3's client has the event in its log (no webhook URL: nothing to deliver).
    [event] = session.scalars(select(ConsentEvent)).all()
    assert (event.client_id, event.type) == ("b3-client", "demand.pushed")
    assert (event.payload["demand_id"], event.payload["round"]) == (demand_id, 2)
    assert event.next_attempt_at is None

    # Delivered twice, it changes nothing more.
    celery.send_task("demands.sweep_overdue", queue=queue)
    time.sleep(3)
    session.rollback()
    again = session.get(FinancingDemand, demand_id)
    assert again is not None
    assert (again.overdue_count, again.push_round) == (1, 2)
    assert len(session.scalars(select(ConsentEvent)).all()) == 1
