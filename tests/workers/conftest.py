"""A real Celery worker process (``finance worker``) on the configured broker: the
embedded SQLite transport by default, Redis when ``FINANCE_BROKER_URL`` points at it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from finance.core.settings import Settings

FINANCE = Path(sys.executable).with_name("finance")


@pytest.fixture
def worker(settings: Settings) -> Iterator[tuple[Celery, str]]:
    """A worker subprocess on a queue of its own, with this test's environment (its
    database, data directory and broker); stopped (warm shutdown) afterwards."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)  # the embedded broker's
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
    client = Celery("tests", broker=settings.celery_broker_url)
    try:
        yield client, queue
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        print(output)  # noqa: T201 - shown by pytest only when the test fails
