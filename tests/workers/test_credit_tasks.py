"""A real Celery worker process (``finance worker``) on the configured broker: the
embedded SQLite transport by default, Redis when ``FINANCE_BROKER_URL`` points at it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit.dataset import platform_training_set
from credit.models import CreditScore
from credit.registry import CACHE, active_version, promote, register, warm
from credit.train import train
from finance.cli.main import app
from finance.core.settings import Settings
from finance.core.worker_presence import (
    STALE_SECONDS,
    find_workers,
    heartbeat_consumers,
    remove_heartbeat,
    write_heartbeat,
)
from tests.credit.builders import Province, build_province
from tests.workers.conftest import FINANCE
from workers.app import model_warm_step

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


def _rescore(*args: str) -> tuple[dict[str, object], str]:
    """``finance credit rescore --json`` in this process: its summary and its stderr."""
    result = CliRunner().invoke(
        app, ["credit", "rescore", "--as-of", AS_OF.isoformat(), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout)
    return summary, result.stderr


@pytest.mark.slow
def test_rescore_sends_the_chunks_to_a_running_worker_by_default(
    settings: Settings, session: Session, live_model: Province, worker: tuple[Celery, str]
) -> None:
    client, queue = worker
    deadline = time.monotonic() + 60
    while not find_workers(client, settings.resolved_data_dir, queue).workers:
        assert time.monotonic() < deadline, "the worker never showed up"
        time.sleep(0.5)
    summary, stderr = _rescore("--queue", queue, "--chunk-size", "150")
    assert summary["via_workers"] is True
    assert summary["workers"]
    assert "sending the chunks to 1 worker(s)" in stderr
    assert summary["enterprises"] == len(live_model.usccs)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CreditScore)) == len(live_model.usccs)


def test_rescore_scores_inline_when_no_worker_runs(
    settings: Settings, session: Session, live_model: Province
) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    summary, stderr = _rescore("--queue", queue, "--chunk-size", "150")
    assert summary["via_workers"] is False
    assert summary["workers"] == []
    assert f"no Celery worker is running on queue {queue!r}" in stderr
    assert "scoring inline" in stderr
    assert summary["enterprises"] == len(live_model.usccs)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CreditScore)) == len(live_model.usccs)
    assert time.monotonic() - started < 60


def test_a_starting_worker_prepares_the_live_model_ahead(
    settings: Settings, session: Session, live_model: Province, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker step loads the live model into the process's cache with its TreeSHAP
    tables built, so the first task does not wait for them; without a reachable database
    it says so and the worker starts all the same."""
    version = active_version(session)
    assert version is not None
    step = model_warm_step(settings)(None)
    with caplog.at_level(logging.INFO, logger="workers.credit"):
        step.warm()
    assert f"live credit model {version} loaded" in caplog.text
    model = CACHE.get(settings.resolved_data_dir, version)
    assert model._shap is not None
    assert model._shap[0] is model.booster
    caplog.clear()
    unreachable = settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"}
    )
    with caplog.at_level(logging.INFO, logger="workers.credit"):
        model_warm_step(unreachable)(None).warm()
    assert "could not load the live credit model ahead" in caplog.text


def test_warming_without_a_live_model_loads_nothing(settings: Settings, session: Session) -> None:
    assert warm(session, settings.resolved_data_dir) is None


def test_a_stale_or_other_queue_heartbeat_is_no_worker(tmp_path: Path) -> None:
    write_heartbeat(tmp_path, "celery@a", ["celery"])
    write_heartbeat(tmp_path, "celery@b", ["other"])
    assert heartbeat_consumers(tmp_path, "celery") == ["celery@a"]
    later = time.time() + STALE_SECONDS + 1
    assert heartbeat_consumers(tmp_path, "celery", now=later) == []
    remove_heartbeat(tmp_path, "celery@a")
    assert heartbeat_consumers(tmp_path, "celery") == []


def _start_worker(queue: str) -> tuple[subprocess.Popen[str], list[str]]:
    """A ``finance worker`` subprocess on ``queue`` whose log lines are collected."""
    process = subprocess.Popen(
        # A node name of its own: workers of other test processes share the broker, and
        # Celery's control replies are keyed by node name (two ``celery@host`` collide).
        [
            *(str(FINANCE), "worker", "--concurrency", "1", "--queues", queue),
            *("--loglevel", "INFO", "--hostname", f"{queue}@%h"),
        ],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=collect, daemon=True).start()
    return process, lines


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _score_rows(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(CreditScore)) or 0)


@contextlib.contextmanager
def _writes_blocked(engine: Engine) -> Iterator[None]:
    """Holds the database's write lock (SQLite) or a lock on the scores table that blocks
    inserts (PostgreSQL) until the block ends."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
            connection.exec_driver_sql("LOCK TABLE credit_scores IN SHARE ROW EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.exec_driver_sql("ROLLBACK")


@pytest.mark.slow
def test_a_chunk_killed_mid_way_and_retried_leaves_one_score_each(
    settings: Settings, session: Session, engine: Engine, live_model: Province
) -> None:
    """A worker killed with SIGKILL while a chunk is being written loses that chunk's
    uncommitted scores and nothing else; sending the chunks again (the retry) leaves
    exactly one score per enterprise and as-of date."""
    version = active_version(session)
    assert version is not None
    usccs = sorted(live_model.usccs)
    first_chunk, second_chunk = (usccs[0], usccs[49]), (usccs[50], usccs[-1])
    queue = f"test-{uuid.uuid4().hex[:8]}"
    client = Celery("tests", broker=settings.celery_broker_url)
    process, lines = _start_worker(queue)
    try:
        day = AS_OF.isoformat()
        client.send_task("credit.rescore_chunk", args=[day, *first_chunk, version], queue=queue)
        _wait_until(lambda: _score_rows(session) == 50, 120, "the first chunk was not scored")
        with _writes_blocked(engine):
            client.send_task(
                "credit.rescore_chunk",
                args=[day, *second_chunk, version],
                queue=queue,
                task_id="second-chunk",
            )
            _wait_until(
                lambda: any("second-chunk" in line and "received" in line for line in lines),
                60,
                "the worker never took the second chunk",
            )
            time.sleep(3)  # it reads and scores 350 enterprises, then waits on the lock
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert _score_rows(session) == 50  # the killed chunk left nothing behind

        retry, _ = _start_worker(queue)
        try:
            for chunk in (first_chunk, second_chunk):
                client.send_task("credit.rescore_chunk", args=[day, *chunk, version], queue=queue)
            _wait_until(lambda: _score_rows(session) == len(usccs), 120, "the retry did not finish")
            time.sleep(1)  # nothing more arrives
        finally:
            retry.send_signal(signal.SIGTERM)
            retry.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    session.rollback()
    per_enterprise = session.execute(
        select(CreditScore.uscc, CreditScore.as_of, func.count()).group_by(
            CreditScore.uscc, CreditScore.as_of
        )
    ).all()
    assert len(per_enterprise) == len(usccs)
    assert {count for _, _, count in per_enterprise} == {1}
    assert {as_of for _, as_of, _ in per_enterprise} == {AS_OF}
