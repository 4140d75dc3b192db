"""The transactional outbox: jobs leave only after the transaction that asked for them
has committed, and none is lost if the broker is down or the process dies.

A service calls ``enqueue(session, task, **kwargs)`` inside the request's (or task's)
transaction: that writes one ``outbox_messages`` row and nothing else. The row commits
or rolls back with the change that asked for the job, so a rolled-back submission sends
nothing and a committed one cannot be forgotten. A relay then sends committed rows to
Celery by task name (``send_task``; the sender needs no import of ``workers``) and marks
them sent:

- right after a commit that enqueued something, in a background thread of the process
  that committed (``Relay.kick``, wired to the sessionmaker's ``after_commit`` by
  ``install``), so a job usually reaches the broker within milliseconds;
- every ``POLL_SECONDS`` in each worker process (``workers.app``), which sends what a
  crashed process or an unreachable broker left behind.

Each row is claimed before it is sent (an ``UPDATE ... WHERE`` that only one relay can
win, on SQLite and PostgreSQL alike) and the claim lapses after ``LEASE``, so a relay
that dies mid-send leaves its rows to the next one. Delivery is therefore at least once:
a relay can die after the broker took a message and before the row was marked sent.
Every task must be idempotent (they take ids and write by natural key). The Celery task
id is ``outbox-<row id>``, so logs tie a task to the row that sent it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    Index,
    String,
    Text,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from finance.core.db import Base, session_factory
from finance.core.settings import Settings
from finance.core.types import BigIntPK, UTCDateTime, utcnow

log = logging.getLogger("finance.outbox")

LEASE = dt.timedelta(seconds=60)
POLL_SECONDS = 1.0
BATCH = 100
_ENQUEUED = "finance.outbox.enqueued"


class OutboxMessage(Base):
    """One job to send: a Celery task name, its keyword arguments (ids, JSON) and the
    queue. ``sent_at`` is set once the broker has accepted it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(128))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    queue: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def enqueue(session: Session, task: str, *, queue: str | None = None, **kwargs: Any) -> int:
    """Ask for ``task(**kwargs)`` to run once the session's transaction commits; returns
    the outbox row's id. ``kwargs`` must be JSON (ids, not objects)."""
    message = OutboxMessage(task=task, kwargs=kwargs, queue=queue, attempts=0)
    session.add(message)
    session.flush()
    session.info[_ENQUEUED] = True
    return message.id


Sender = Callable[[OutboxMessage], None]


def celery_sender(settings: Settings, broker_url: str | None = None) -> Sender:
    """Sends by task name through a bare Celery producer on the settings' broker (or
    ``broker_url``). Connection errors are raised at once (no retry loop inside the
    send): the row stays unsent and the next relay pass tries again."""
    from celery import Celery

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)  # the embedded broker's
    producer = Celery("finance-outbox", broker=broker_url or settings.celery_broker_url)
    producer.conf.update(
        broker_connection_timeout=2.0,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        task_serializer="json",
    )

    def send(message: OutboxMessage) -> None:
        producer.send_task(
            message.task,
            kwargs=message.kwargs,
            queue=message.queue,
            task_id=f"outbox-{message.id}",
            retry=False,
        )

    return send


@dataclass(frozen=True)
class RelayPass:
    sent: int
    failed: int
    pending: int


class Relay:
    """Sends committed outbox rows. ``relay_once`` is one pass (callable from a worker's
    timer, a CLI or a test); ``kick`` asks the background thread for a pass soon."""

    def __init__(self, engine: Engine, send: Sender) -> None:
        self._sessions = session_factory(engine)
        self._send = send
        self.name = f"relay-{uuid.uuid4().hex[:12]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def relay_once(self, now: dt.datetime | None = None, limit: int = BATCH) -> RelayPass:
        now = now or utcnow()
        sent = failed = 0
        for message_id in self._claim(now, limit):
            with self._sessions.begin() as session:
                message = session.get(OutboxMessage, message_id)
                if message is None or message.sent_at is not None:
                    continue
                message.attempts += 1
                try:
                    self._send(message)
                except Exception as exc:  # the broker refused or is unreachable: retry later
                    failed += 1
                    message.claimed_by = message.claimed_until = None
                    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                    log.warning(
                        "outbox message not sent",
                        extra={"outbox_id": message_id, "task": message.task},
                    )
                    break
                message.sent_at = utcnow()
                message.last_error = None
                sent += 1
        with self._sessions() as session:
            pending = session.scalar(
                _unsent(utcnow()).with_only_columns(func.count(OutboxMessage.id))
            )
        return RelayPass(sent=sent, failed=failed, pending=pending or 0)

    def _claim(self, now: dt.datetime, limit: int) -> list[int]:
        """Claim up to ``limit`` unsent rows for this relay, oldest first. Each claim is a
        conditional UPDATE: of two relays racing for a row, exactly one changes it."""
        claimed: list[int] = []
        with self._sessions.begin() as session:
            candidates = session.scalars(
                _unsent(now)
                .with_only_columns(OutboxMessage.id)
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).all()
        for message_id in candidates:
            with self._sessions.begin() as session:
                won = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.sent_at.is_(None),
                        or_(
                            OutboxMessage.claimed_until.is_(None),
                            OutboxMessage.claimed_until < now,
                        ),
                    )
                    .values(claimed_by=self.name, claimed_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(message_id)
        return claimed

    def kick(self) -> None:
        """A pass soon, in the background thread (started on first use)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name=f"outbox-{self.name}", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        idle = 3600.0  # nothing left: sleep until the next kick
        wait = idle
        while not self._stop.is_set():
            self._wake.wait(timeout=wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                result = self.relay_once()
            except Exception:  # the database is unreachable: keep the thread, retry later
                log.exception("outbox relay pass failed")
                result = RelayPass(sent=0, failed=1, pending=1)
            if result.failed:  # the broker is down: back off up to 30 s
                wait = min(max(wait if wait < idle else POLL_SECONDS, POLL_SECONDS) * 2, 30.0)
            elif result.pending:  # more than one batch waiting
                wait = 0.0
            else:
                wait = idle

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _unsent(now: dt.datetime) -> Any:
    return select(OutboxMessage).where(
        OutboxMessage.sent_at.is_(None),
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: unsent rows, the oldest one's creation time, and the
    rows a relay failed to send at least once (with the latest error)."""

    pending: int
    oldest: dt.datetime | None
    failing: int
    last_error: str | None


def backlog(session: Session) -> Backlog:
    unsent = OutboxMessage.sent_at.is_(None)
    pending, oldest = session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(unsent)
    ).one()
    failing = session.scalar(
        select(func.count(OutboxMessage.id)).where(unsent, OutboxMessage.attempts > 0)
    )
    last_error = session.scalar(
        select(OutboxMessage.last_error)
        .where(unsent, OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    return Backlog(pending=pending, oldest=oldest, failing=failing or 0, last_error=last_error)


def install(sessions: sessionmaker[Session], relay: Relay) -> None:
    """After every commit of a session from ``sessions`` that enqueued something, kick
    the relay (the kick only sets an event: the sending happens in the relay's thread,
    never in the request's)."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_ENQUEUED, False):
            relay.kick()

    def after_rollback(session: Session) -> None:
        session.info.pop(_ENQUEUED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(
        sessions, "after_soft_rollback", lambda session, _previous: after_rollback(session)
    )
