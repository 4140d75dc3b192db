"""Housekeeping task: expire consents past their expiry (queuing their webhooks) and
purge one-time identifiers past their replay horizon (``authz.housekeeping.sweep``).
Beat runs it every ``INTERVAL``; it is idempotent, so a run delivered twice changes
nothing the second time."""

from __future__ import annotations

import datetime as dt

from celery import Task, shared_task

from authz.housekeeping import sweep
from finance.core.db import get_engine, transaction
from finance.core.settings import get_settings
from workers.webhooks import RETRY

INTERVAL = dt.timedelta(minutes=1)


@shared_task(name="authz.housekeeping", **RETRY)
def housekeeping(self: Task) -> dict[str, int]:
    """One sweep; returns what it changed."""
    with transaction(get_engine(get_settings())) as session:
        swept = sweep(session, dt.datetime.now(dt.UTC))
    return {"consents_expired": swept.consents_expired, "jtis_purged": swept.jtis_purged}
