"""The Celery app, configured from the platform settings.

Broker: the settings' URL; the embedded default is kombu's SQLAlchemy transport on a
SQLite file under the data directory (no server needed), production uses Redis or
RabbitMQ by URL. Results live in the platform's own tables (tasks write scores), so task
results are not stored.

Pool and threads. LightGBM uses OpenMP, and a process that has started OpenMP's thread
pool and then forks can hang in the child (libgomp's pool does not survive ``fork``).
Celery's default prefork pool forks, and replaces children by forking again, so the
worker uses the **threads** pool instead: no fork ever happens after LightGBM loads. Each
prediction runs with ``num_threads=1`` and OpenMP is pinned to one thread
(``OMP_NUM_THREADS=1``, set here before anything can import LightGBM and again by
``finance worker`` in the worker's environment), so N task threads use at most N cores.
LightGBM's C calls release the GIL, so threads do run predictions in parallel; to use
more cores for the pandas work, run more ``finance worker`` processes.

Delivery. ``acks_late`` with ``task_reject_on_worker_lost``: a task is acknowledged only
after it finishes, and redelivered if its worker dies, so every task is idempotent (it
writes by natural key). Prefetch is one task per thread so a long chunk does not hold
others back.
"""

from __future__ import annotations

import logging
import os
import threading

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.schedules import crontab

from finance.core import outbox
from finance.core.db import get_engine, transaction
from finance.core.settings import Settings, get_settings
from finance.core.worker_presence import HEARTBEAT_SECONDS, remove_heartbeat, write_heartbeat
from workers import embedded_broker

TASK_MODULES = [
    "workers.credit",
    "workers.webhooks",
    "workers.housekeeping",
    "workers.demands",
    "workers.lending",
]


def heartbeat_step(data_dir: Path) -> type[bootsteps.StartStopStep]:
    """A worker step that writes the worker's heartbeat file (its queues) under
    ``data_dir`` every few seconds, so commands can tell it is running where the broker
    cannot broadcast a ping (the embedded broker); see ``finance.core.worker_presence``."""

    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.components:Timer",)

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.timer_entry: Any = None

        def start(self, worker: Any) -> None:
            queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)

            def beat() -> None:
                write_heartbeat(data_dir, worker.hostname, queues)

            beat()
            self.timer_entry = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, beat)

        def stop(self, worker: Any) -> None:
            if self.timer_entry is not None:
                self.timer_entry.cancel()
            remove_heartbeat(data_dir, worker.hostname)

    return Heartbeat


def outbox_step(settings: Settings) -> type[bootsteps.StartStopStep]:
    """A worker step that relays the outbox every ``POLL_SECONDS``: what a web process
    could not send (broker down, process gone between commit and send) leaves from here
    (see ``finance.core.outbox``)."""

    class OutboxRelay(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.components:Timer",)

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.timer_entry: Any = None
            self.relay: outbox.Relay | None = None

        def start(self, worker: Any) -> None:
            relay = outbox.Relay(get_engine(settings), outbox.celery_sender(settings))
            self.relay = relay

            def relay_pass() -> None:
                try:
                    relay.relay_once()
                except Exception:  # the database is unreachable: the next tick retries
                    logging.getLogger("workers.outbox").exception("outbox relay pass failed")

            self.timer_entry = worker.timer.call_repeatedly(outbox.POLL_SECONDS, relay_pass)

        def stop(self, worker: Any) -> None:
            if self.timer_entry is not None:
                self.timer_entry.cancel()

    return OutboxRelay


def model_warm_step(settings: Settings) -> type[bootsteps.StartStopStep]:
    """A worker step that loads and prepares the live credit model in the background as
    the worker starts (``credit.registry.warm``): the first decision of the 310 flow, or
    the first chunk of a night, would otherwise wait about a quarter of a second for it.
    Tasks are taken meanwhile; one that needs the model before it is ready loads it
    itself. A worker whose database is unreachable or that has no live model starts all
    the same."""

    class ModelWarm(bootsteps.StartStopStep):  # type: ignore[misc]
        def start(self, worker: Any) -> None:
            threading.Thread(target=self.warm, name="model-warm", daemon=True).start()

        def warm(self) -> None:
            from credit.registry import warm  # the model's libraries: in workers only

            log = logging.getLogger("workers.credit")
            try:
                with transaction(get_engine(settings)) as session:
                    version = warm(session, settings.resolved_data_dir)
            except Exception:  # the first task that needs the model loads it, or says why
                log.warning("could not load the live credit model ahead", exc_info=True)
                return
            log.info("live credit model %s loaded", version or "(none)")

    return ModelWarm


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    celery = Celery("finance", broker=settings.celery_broker_url, include=TASK_MODULES)
    lending_queue = settings.lending_queue or "celery"
    if settings.celery_broker_url.startswith("sqla+"):
        embedded_broker.install()  # polled every 0.1 s, not every second
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_pool="threads",
        worker_concurrency=2,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Beat times are Beijing time, when the nights are quiet; stored times stay UTC.
        timezone="Asia/Shanghai",
        enable_utc=True,
        beat_schedule_filename=str(settings.resolved_data_dir / "celerybeat-schedule"),
        beat_schedule={
            "nightly-rescore": {
                "task": "credit.rescore_all",
                "schedule": crontab(hour=1, minute=0),
            },
            "nightly-monitor": {
                "task": "credit.monitor",
                "schedule": crontab(hour=4, minute=0),
            },
            "consent-webhooks": {
                "task": "authz.deliver_webhooks",
                "schedule": 10.0,  # workers.webhooks.INTERVAL
            },
            "authz-housekeeping": {
                "task": "authz.housekeeping",
                "schedule": 60.0,  # workers.housekeeping.INTERVAL
            },
            "demands-overdue": {
                "task": "demands.sweep_overdue",
                "schedule": 300.0,  # workers.demands.INTERVAL
            },
            # The 310 flow: applications left between submission and decision are
            # asked for again, offers not accepted in time expire, days past due daily.
            "lending-resume": {
                "task": "lending.resume",
                "schedule": 15.0,
                "options": {"queue": lending_queue},
            },
            "lending-expire-offers": {
                "task": "lending.expire_offers",
                "schedule": 300.0,
                "options": {"queue": lending_queue},
            },
            "lending-days-past-due": {
                "task": "lending.days_past_due",
                "schedule": crontab(hour=0, minute=30),
                "options": {"queue": lending_queue},
            },
        },
    )
    celery.steps["worker"].add(heartbeat_step(settings.resolved_data_dir))
    celery.steps["worker"].add(outbox_step(settings))
    celery.steps["worker"].add(model_warm_step(settings))
    return celery


app = make_app()
