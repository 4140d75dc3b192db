"""Credit tasks: thin wrappers that open a transaction and call ``credit``.

Each takes ids and dates (JSON), writes by natural key (so a redelivered task leaves one
result) and retries with exponential backoff when the database is unreachable or busy.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from celery import Task, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from credit import monitor as monitoring
from credit import scoring
from credit.registry import active_version, load_model
from finance.core.db import transaction
from finance.core.settings import get_settings

log = logging.getLogger("workers.credit")
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY: dict[str, Any] = {
    "bind": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@shared_task(name="credit.score_enterprise", **RETRY)
def score_enterprise(
    self: Task, uscc: str, as_of: str, amount_fen: int | None = None
) -> dict[str, Any]:
    """Score one enterprise with the live model (for an application of ``amount_fen``, if
    given) and store the score."""
    data_dir = get_settings().resolved_data_dir
    with transaction() as session:
        result = scoring.score_enterprise(
            session, uscc, dt.date.fromisoformat(as_of), data_dir=data_dir, amount_fen=amount_fen
        )
        scoring.store(session, [result])
    return {"uscc": uscc, "score": result.score, "model_version": result.model_version}


@shared_task(name="credit.rescore_chunk", **RETRY)
def rescore_chunk(self: Task, as_of: str, first: str, last: str, version: str) -> int:
    """Score the enterprises in one USCC range with one model version."""
    data_dir = get_settings().resolved_data_dir
    stages = scoring.Stages()
    started = time.perf_counter()
    with transaction() as session:
        model = load_model(session, data_dir, version)
        scored = scoring.rescore_chunk(
            session, model, dt.date.fromisoformat(as_of), first, last, stages
        )
    wall = stages.as_dict()["wall"]
    log.info(
        "rescored %d enterprises %s..%s as of %s in %.3f s (wall s by stage: %s)",
        scored,
        first,
        last,
        as_of,
        time.perf_counter() - started,
        ", ".join(f"{stage} {seconds}" for stage, seconds in wall.items()),
    )
    return scored


@shared_task(name="credit.rescore_all", **RETRY)
def rescore_all(self: Task, as_of: str | None = None, chunk_size: int = 5000) -> int:
    """Fan out one ``rescore_chunk`` per chunk of the registry, on the queue this task came
    from; returns the chunk count."""
    day = as_of or _today().isoformat()
    with transaction() as session:
        version = active_version(session)
        if version is None:
            return 0
        bounds = scoring.chunk_bounds(session, chunk_size)
    queue = (self.request.delivery_info or {}).get("routing_key")
    for first, last in bounds:
        rescore_chunk.apply_async((day, first, last, version), queue=queue)
    return len(bounds)


@shared_task(name="credit.monitor", **RETRY)
def monitor(self: Task, as_of: str | None = None) -> str | None:
    """Monitor the live model and write the report; returns the report path."""
    data_dir = get_settings().resolved_data_dir
    day = dt.date.fromisoformat(as_of) if as_of else _today()
    with transaction() as session:
        if active_version(session) is None:
            return None
        model = load_model(session, data_dir)
        report = monitoring.monitor(session, model, as_of=day, observed_until=day)
    return str(monitoring.write_report(report, data_dir))
