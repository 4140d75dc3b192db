"""Webhook task: a thin wrapper that opens a transaction and delivers every due consent
event (``authz.webhooks.service.deliver_due``). Beat runs it every ``INTERVAL``; a
failed delivery is rescheduled by the service on its backoff, so the task itself never
needs to retry a single event, only a database that is unreachable or busy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from celery import Task, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from authz.oauth.keys import KeyRing
from authz.webhooks import service as webhooks
from finance.core.db import get_engine, transaction
from finance.core.settings import get_settings

INTERVAL = dt.timedelta(seconds=10)
RETRY: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (OperationalError, InterfaceError, ConnectionError, TimeoutError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="authz.deliver_webhooks", **RETRY)
def deliver_webhooks(self: Task) -> int:
    """Deliver the due consent events once; returns how many were delivered."""
    settings = get_settings()
    engine = get_engine(settings)
    keyring = KeyRing(engine, settings.secret_key.get_secret_value())
    keyring.snapshot()  # a first key is created in its own transaction, before ours
    with httpx.Client() as http, transaction(engine) as session:
        return webhooks.deliver_due(
            session,
            keyring,
            issuer=settings.public_url.rstrip("/"),
            now=dt.datetime.now(dt.UTC),
            http=http,
        )
