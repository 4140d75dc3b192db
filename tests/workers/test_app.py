"""The Celery app's configuration comes from the settings and keeps LightGBM safe."""

from __future__ import annotations

import os

from kombu import Queue
from kombu.message import Message

from finance.core.settings import Settings
from workers.app import make_app
from workers.embedded_broker import BUSY_POLL_SECONDS, POLL_SECONDS


def test_embedded_broker_and_delivery_guarantees(settings: Settings) -> None:
    app = make_app(settings.model_copy(update={"broker_url": None}))
    assert app.conf.broker_url == f"sqla+sqlite:///{settings.resolved_data_dir / 'broker.db'}"
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    # No forking pool: OpenMP (LightGBM) does not survive fork.
    assert app.conf.worker_pool == "threads"
    assert os.environ["OMP_NUM_THREADS"] == "1"
    # A waiting worker polls within a tenth of a second, not kombu's default second
    # (which held a two-thread worker to two tasks a second); one whose task slots are all
    # taken checks them every hundredth, so a slot set free is filled at once.
    with app.connection_for_write() as connection:
        transport = connection.transport
        assert transport.polling_interval == POLL_SECONDS == 0.1
        queue = Queue("probe", routing_key="probe")
        connection.Producer().publish({"n": 1}, routing_key="probe", declare=[queue])
        taken: list[Message] = []
        with connection.Consumer(
            queue, callbacks=[lambda _body, message: taken.append(message)], prefetch_count=1
        ):
            assert transport.polling_interval == POLL_SECONDS  # a slot free
            connection.drain_events(timeout=5)
            assert len(taken) == 1
            assert transport.polling_interval == BUSY_POLL_SECONDS == 0.01  # none free
            taken[0].ack()
            assert transport.polling_interval == POLL_SECONDS


def test_broker_by_url_and_nightly_schedule(settings: Settings) -> None:
    url = "redis://127.0.0.1:6379/5"
    app = make_app(settings.model_copy(update={"broker_url": url}))
    assert app.conf.broker_url == url
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert tasks == {
        "credit.rescore_all",
        "credit.monitor",
        "authz.deliver_webhooks",
        "authz.housekeeping",
        "demands.sweep_overdue",
        "lending.resume",
        "lending.expire_offers",
        "lending.days_past_due",
    }
    app.loader.import_default_modules()  # what a worker does at start
    assert "credit.score_enterprise" in app.tasks
    assert "credit.rescore_chunk" in app.tasks
    assert "authz.deliver_webhooks" in app.tasks
    assert "authz.housekeeping" in app.tasks
    assert "demands.sweep_overdue" in app.tasks
    assert {"lending.decide", "lending.resume", "lending.days_past_due"} <= set(app.tasks)
