"""A real Celery worker process (``finance worker``) on the configured broker: the
embedded SQLite transport by default, Redis when ``FINANCE_BROKER_URL`` points at it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credit.dataset import platform_training_set
from credit.models import CreditScore
from credit.registry import promote, register
from credit.train import train
from finance.core.settings import Settings
from tests.credit.builders import Province, build_province

AS_OF = dt.date(2025, 2, 1)


@pytest.fixture
def live_model(settings: Settings, session: Session) -> Province:
    province = build_province(session, enterprises=400, months=36, seed=11)
    result = train(platform_training_set(session, dt.date(2026, 1, 1)), seed=1)
    row = register(session, result, settings.resolved_data_dir, created_by="tests")
    promote(session, row.version, by="tests")
    session.commit()
    return province


def _wait_for(session: Session, uscc: str, timeout: float = 90.0) -> CreditScore:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.rollback()
        row = session.scalar(select(CreditScore).where(CreditScore.uscc == uscc))
        if row is not None:
            return row
        time.sleep(0.3)
    raise AssertionError(f"no score for {uscc} within {timeout}s")


@pytest.mark.slow
def test_worker_scores_an_enterprise_once_when_delivered_twice(
    settings: Settings, session: Session, live_model: Province, worker: tuple[Celery, str]
) -> None:
    client, queue = worker
    uscc, marker = live_model.usccs[0], live_model.usccs[1]
    args = [uscc, AS_OF.isoformat()]
    # The same message twice (as a broker redelivers it after a lost acknowledgement).
    client.send_task("credit.score_enterprise", args=args, queue=queue, task_id="dup-1")
    client.send_task("credit.score_enterprise", args=args, queue=queue, task_id="dup-1")
    # One thread, FIFO: once the marker is scored, both deliveries have run.
    client.send_task("credit.score_enterprise", args=[marker, AS_OF.isoformat()], queue=queue)
    _wait_for(session, marker)
    session.rollback()
    rows = session.scalars(select(CreditScore).where(CreditScore.uscc == uscc)).all()
    assert len(rows) == 1
    score = rows[0]
    assert score.as_of == AS_OF
    assert 300 <= score.score <= 900
    assert score.reasons


@pytest.mark.slow
def test_worker_rescores_every_enterprise_in_chunks(
    settings: Settings, session: Session, live_model: Province, worker: tuple[Celery, str]
) -> None:
    client, queue = worker
    client.send_task(
        "credit.rescore_all", kwargs={"as_of": AS_OF.isoformat(), "chunk_size": 120}, queue=queue
    )
    deadline = time.monotonic() + 120
    count = 0
    while time.monotonic() < deadline and count < len(live_model.usccs):
        time.sleep(0.5)
        session.rollback()
        count = session.scalar(select(func.count()).select_from(CreditScore)) or 0
    assert count == len(live_model.usccs)
