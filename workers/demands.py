"""Demand-market task: flag every financing demand left unclaimed past its working days
and push it to the next banks (``finance.demands.service.sweep_overdue``). Beat runs it
every ``INTERVAL``; it takes no arguments and is idempotent (a flagged demand starts a new
round with a new deadline, so a second run finds nothing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task, shared_task

from finance.core.db import get_engine, transaction
from finance.core.settings import get_settings
from finance.demands.service import MarketRules, sweep_overdue
from workers.webhooks import RETRY

INTERVAL = dt.timedelta(minutes=5)


@shared_task(name="demands.sweep_overdue", **RETRY)
def sweep_overdue_demands(self: Task) -> dict[str, Any]:
    """One sweep; returns the demands flagged and how many banks the new rounds reached."""
    settings = get_settings()
    with transaction(get_engine(settings)) as session:
        result = sweep_overdue(
            session, dt.datetime.now(dt.UTC), MarketRules.from_settings(settings)
        )
    return {"flagged": result.flagged, "pushed": result.pushed}
