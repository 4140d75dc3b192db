"""Group commit of data-call ledger entries: one writer thread per process appends the
entries of every request waiting at that moment in one transaction, and releases each
request only once that transaction has committed.

Every append locks the ledger head row (``service.append_batch``), so the chain stays a
single chain across processes; a batch holds that lock once for all its entries instead
of once per call, which is what lets many concurrent calls through a serialised chain.
A data call's daily-limit counter is incremented in the same transaction: the limit is
exact, and a call the counter refuses is recorded as refused instead of allowed.
A batch that fails is retried entry by entry, so one bad entry fails only its own call.

The writer has a connection of its own: requests wait for it while holding theirs, so
drawing from their pool could leave it waiting for a connection that never comes back.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy import Engine

from authz.ledger.service import DailyLimit, PendingEntry, append_batch
from finance.core.db import make_engine

log = logging.getLogger("authz.ledger")
MAX_BATCH = 256
IDLE_SECONDS = 1.0  # the thread (and its connection) ends after this long without work


class LedgerWriter:
    def __init__(self, engine: Engine) -> None:
        self._engine = make_engine(engine.url.render_as_string(hide_password=False), connections=1)
        self._queue: queue.SimpleQueue[PendingEntry] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def append(
        self, fields: dict[str, Any], *, daily_limit: DailyLimit | None = None
    ) -> PendingEntry:
        """Append one entry and wait until it is committed. With ``daily_limit``, an
        allowed data call over the limit is recorded (and returned) as refused."""
        entry = PendingEntry(fields, daily_limit)
        with self._lock:
            self._queue.put(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()
        entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry

    def _next_batch(self) -> list[PendingEntry] | None:
        try:
            first = self._queue.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._thread = None
                    self._engine.dispose()  # no connection held while idle
                    return None
            return []
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if batch:
                self._write(batch)

    def _write(self, batch: list[PendingEntry]) -> None:
        try:
            with self._engine.begin() as connection:
                append_batch(connection, batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("ledger append failed")
                batch[0].fail(exc)
                return
            for entry in batch:  # isolate the entry that failed the batch
                self._write([entry])
            return
        for entry in batch:
            entry.done.set()
