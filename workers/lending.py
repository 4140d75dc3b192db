"""310 tasks: thin wrappers that open their own transactions and call
``finance.lending``. Each takes ids and is idempotent: the decision's stages end in
conditional transitions, so a duplicate delivery (the outbox delivers at least once; a
killed worker's task is delivered again) decides once and leaves one set of ledger
entries.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import Task, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

import finance.schema  # noqa: F401  # every model mapped: the decision touches many tables
from finance.core.db import transaction
from finance.core.errors import Conflict
from finance.core.settings import get_settings
from finance.lending import book, decision, service

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY: dict[str, Any] = {
    "bind": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 10,
}
log = logging.getLogger("workers.lending")
RESUME_AFTER = dt.timedelta(seconds=30)  # an application in between for this long is resumed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@shared_task(name=service.DECIDE_TASK, **RETRY)
def decide(self: Task, application_id: int) -> str | None:
    """Read the consented data, then score and decide; returns the outcome (None when
    another delivery did it)."""
    with transaction() as session:
        go_on = decision.collect(session, application_id, now=_now())
    if not go_on:
        return None
    data_dir = get_settings().resolved_data_dir
    with transaction() as session:
        return decision.score_and_decide(session, application_id, data_dir=data_dir, now=_now())


@shared_task(name="lending.resume", **RETRY)
def resume(self: Task) -> int:
    """Beat: ask again for the decision of applications left between submission and
    decision (a worker killed mid-task on a broker that redelivers late)."""
    with transaction() as session:
        return service.resume_stalled(session, _now() - RESUME_AFTER)


@shared_task(name="lending.expire_offers", **RETRY)
def expire_offers(self: Task) -> int:
    """Beat: approvals not accepted in time expire."""
    with transaction() as session:
        return service.expire_offers(session, _now())


@shared_task(name="lending.days_past_due", **RETRY)
def days_past_due(self: Task, as_of: str | None = None) -> int:
    """Beat, daily: days past due and status of every open loan, each loan in a
    transaction of its own, so a repayment waits at most for the loan being aged, never
    for the whole run; returns the loans whose figures changed."""
    day = dt.date.fromisoformat(as_of) if as_of else book.local_today(_now())
    with transaction() as session:
        loan_ids = book.open_loans(session)
    changed = 0
    # A loan that kept changing while it was aged (two repayments in the same instant)
    # is aged again after the others rather than ending the run; one still busy then
    # waits for tomorrow's run, which ages it as of its own day.
    for _pass in range(2):
        busy = []
        for loan_id in loan_ids:
            try:
                with transaction() as session:
                    changed += book.age_loan(session, loan_id, day, _now())
            except Conflict as lost:
                if lost.extensions.get("error") != book.LOAN_CHANGED:
                    raise
                busy.append(loan_id)
        loan_ids = busy
        if not busy:
            break
    if loan_ids:
        log.warning("days past due not updated for loans still changing: %s", loan_ids)
    return changed
