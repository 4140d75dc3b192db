"""Group commit of data-call ledger entries: the entries of every request waiting at one
moment are appended in one transaction, and each request is released only once that
transaction has committed.

Leader and followers: a request that finds nobody writing becomes the writer, appends
every entry pending at that moment (its own included) in one transaction, then hands the
role to the oldest request still waiting, if any; a request that finds a writer at work
waits for its entry to be written, or for the role. Alone, a request writes its own entry
with no thread handoff; under load, one transaction carries many entries.

Every append locks the ledger head row (``service.append_batch``), so the chain stays a
single chain across processes; a batch holds that lock once for all its entries instead
of once per call. A data call's daily-limit counter is incremented in the same
transaction: the limit is exact, and a call the counter refuses is recorded as refused
instead of allowed. A batch that fails is retried entry by entry, so one bad entry fails
only its own call.

The writer also runs other short writes of the hot path in its batches (``run``): on
SQLite, where every write transaction takes the one database lock, the rate-limit and
DPoP ``jti`` writes of many calls then share one transaction instead of contending for
the lock call by call.

The writer has a connection of its own: requests wait for it while holding theirs, so
drawing from their pool could leave it waiting for a connection that never comes back.

On SQLite the writers of the server's processes also take turns through an exclusive
``flock`` on a file beside the database before they write. SQLite's own busy handler
waits for its lock by sleeping in growing steps (1, 2, 5, 10 ... 100 ms), which under a
steady stream of short transactions from several processes turns into waits of hundreds
of milliseconds; the kernel wakes a ``flock`` waiter as soon as the lock is free.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from authz.ledger.service import DailyLimit, Pending, PendingEntry, append_batch
from finance.core.db import make_engine

log = logging.getLogger("authz.ledger")
MAX_BATCH = 256
T = TypeVar("T")


@dataclass
class PendingWork(Pending):
    """Statements to run in a batch's transaction (before its ledger entries)."""

    work: Callable[[Connection], Any]
    result: Any = None


class LedgerWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = make_engine(engine.url.render_as_string(hide_password=False), connections=1)
        database = engine.url.database
        self._lock_path = (
            f"{database}.writer-lock"
            if engine.dialect.name == "sqlite" and database and database != ":memory:"
            else None
        )
        self._lock = threading.Lock()
        self._pending: list[Pending] = []
        self._writing = False

    def append(
        self, fields: dict[str, Any], *, daily_limit: DailyLimit | None = None
    ) -> PendingEntry:
        """Append one entry and wait until it is committed. With ``daily_limit``, an
        allowed data call over the limit is recorded (and returned) as refused."""
        entry = PendingEntry(fields, daily_limit)
        self._submit(entry)
        return entry

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the next batch's transaction; its result once committed."""
        pending = PendingWork(work)
        self._submit(pending)
        result: T = pending.result
        return result

    def _submit(self, entry: Pending) -> None:
        with self._lock:
            self._pending.append(entry)
            lead = not self._writing
            self._writing = True
        while not lead:
            entry.done.wait()
            if entry.settled:
                break
            # Handed the writer's role: the entry is still pending.
            entry.done.clear()
            lead = True
        if lead:
            self._lead()
        if entry.error is not None:
            raise entry.error

    def _lead(self) -> None:
        """Write one batch, then pass the role on (or give it up if nothing waits)."""
        with self._lock:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        self._write(batch)
        with self._lock:
            if self._pending:
                self._pending[0].done.set()  # not written: it takes the role
            else:
                self._writing = False

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write, among the processes sharing a SQLite file."""
        if self._lock_path is None:
            yield
            return
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _write(self, batch: list[Pending]) -> None:
        try:
            with self._turn(), self._engine.begin() as connection:
                entries = []
                for pending in batch:
                    if isinstance(pending, PendingWork):
                        pending.result = pending.work(connection)
                    elif isinstance(pending, PendingEntry):
                        entries.append(pending)
                if entries:
                    append_batch(connection, entries)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("ledger append failed")
                batch[0].fail(exc)
                return
            for entry in batch:  # isolate the entry that failed the batch
                self._write([entry])
            return
        for entry in batch:
            entry.settle()
