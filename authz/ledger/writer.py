"""Group commit of data-call ledger entries: the entries submitted while a batch is being
written are appended together in the next transaction, and each submitter is released
only once that transaction has committed.

Each process has one writer thread per ledger writer. Data calls hand it their entries
from the event loop (``record_call``, awaited: no worker thread per request); other
callers block on ``append``. Alone, a call waits for one short transaction;
under load, one transaction carries the entries of every call that arrived while the
previous one was being written, up to ``MAX_BATCH``.

Every append locks the ledger head row (``service.append_batch``), so the chain stays a
single chain across processes; a batch holds that lock once for all its entries instead
of once per call. A data call is admitted in the same transaction: its client's rate
limit counted and its DPoP proof's ``jti`` remembered (by the rate limiter's store: the
database, in this transaction, or Redis, in one pipeline per batch), then, if allowed,
counted against its consent's daily limit. The limits are exact, and a call they refuse
is recorded as refused instead of allowed. A batch that fails is retried entry by entry,
so one bad entry fails only its own call.

The writer has a connection of its own, with the database-specific tuning of a writer
that commits all the time (``finance.core.writer_connection``: on SQLite, the processes'
writers take turns by ``flock`` and the WAL is checkpointed beside them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine

from authz.ledger.service import (
    DailyLimit,
    Pending,
    PendingCall,
    PendingEntry,
    append_batch,
)
from authz.ratelimit import RateLimiter
from finance.core.sqlite_wal import WalCheckpointer
from finance.core.writer_connection import WriterConnection

log = logging.getLogger("authz.ledger")
MAX_BATCH = 256
_STOP = object()


class LedgerWriter:
    def __init__(self, engine: Engine, admissions: RateLimiter | None = None) -> None:
        self._database = WriterConnection(engine.url.render_as_string(hide_password=False))
        self._admissions = admissions
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        # Per event loop, the calls recorded during its current pass (used on that loop's
        # thread only).
        self._gathering: dict[asyncio.AbstractEventLoop, list[Pending]] = {}

    def append(
        self, fields: dict[str, Any], *, daily_limit: DailyLimit | None = None
    ) -> PendingEntry:
        """Append one entry and wait until it is committed. With ``daily_limit``, an
        allowed data call over the limit is recorded (and returned) as refused."""
        entry = PendingEntry(fields, daily_limit)
        self._submit(entry)
        entry.done.wait()
        entry.raise_error()
        return entry

    async def record_call(self, call: PendingCall) -> PendingCall:
        """Admit and append one data call's entry (see ``PendingCall``) and return it
        once committed, without blocking the event loop.

        The calls an event loop records during one pass of its loop go to the writer
        thread together, once the pass is over (``call_soon``): one hand-over and one
        wake-up for all of them, instead of a thread switch per call."""
        loop = asyncio.get_running_loop()
        call.loop, call.future = loop, loop.create_future()
        waiting = self._gathering.setdefault(loop, [])
        waiting.append(call)
        if len(waiting) == 1:
            loop.call_soon(self._hand_over, loop)
        await call.future
        call.raise_error()
        return call

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        calls = self._gathering.pop(loop, [])
        if calls:
            self._submit_many(calls)

    def close(self) -> None:
        """Stop the writer thread after the batches already submitted."""
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            self._queue.put(_STOP)
            thread.join(timeout=30)
        self._thread = None
        self._database.close(owner=self._pid == os.getpid())

    @property
    def checkpointer(self) -> WalCheckpointer | None:
        """The WAL checkpointer beside the writer, on a SQLite file."""
        return self._database.checkpointer

    def _submit(self, pending: Pending) -> None:
        self._submit_many([pending])

    def _submit_many(self, pending: list[Pending]) -> None:
        if self._thread is None or self._pid != os.getpid():
            self._start()
        self._queue.put(pending)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._pid != os.getpid():  # forked: the parent's thread and queue stay there
                self._queue = queue.SimpleQueue()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._serve, name="ledger-writer", daemon=True)
            self._thread.start()
            self._database.start()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = list(first)
            while len(batch) < MAX_BATCH:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.extend(following)
            self._write(batch)
            _release(batch)

    def _write(self, batch: list[Pending]) -> None:
        admit = self._admissions.admit_many if self._admissions is not None else None
        try:
            with self._database.transaction() as connection:
                entries = [pending for pending in batch if isinstance(pending, PendingEntry)]
                if entries:
                    append_batch(connection, entries, admit)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("ledger append failed")
                batch[0].error = exc
                return
            for entry in batch:  # isolate the entry that failed the batch
                self._write([entry])


def _release(batch: list[Pending]) -> None:
    """Wake every submitter of a written batch: threads through their events, each event
    loop once for all its calls."""
    waking: dict[asyncio.AbstractEventLoop, list[Pending]] = defaultdict(list)
    for pending in batch:
        pending.settled = True
        if pending.loop is not None:
            waking[pending.loop].append(pending)
        else:
            pending.done.set()
    for loop, calls in waking.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(_resolve, calls)


def _resolve(calls: list[Pending]) -> None:
    for call in calls:
        if call.future is not None and not call.future.done():
            call.future.set_result(None)
