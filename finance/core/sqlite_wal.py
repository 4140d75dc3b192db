"""WAL checkpoints off the hot path, for a process that writes a SQLite file all the time.

In WAL mode SQLite copies the log back into the database file (a checkpoint) once the
log passes ``wal_autocheckpoint`` pages (1,000 by default), inside the commit that
crossed the mark, and that checkpoint writes the pages and flushes both files to disk.
On the data-call path that commit is the ledger writer's group commit, so every few
seconds a batch of calls (and, through the writers' ``flock``, the other server
processes' batches) waited for a checkpoint: measured with ``bench/data_call.py``, two
workers at 32 clients served 1,278 calls/s with a p99 of 57 ms, and 2,167 calls/s with a
p99 of 27 ms once no commit checkpointed.

So the ledger writer's connection does not checkpoint (``wal_autocheckpoint=0``), and a
thread of its own checkpoints the file in ``PASSIVE`` mode every ``INTERVAL`` seconds
after writes: a passive checkpoint waits for no reader or writer and copies what no
reader still needs; the commits go on meanwhile. Durability is unchanged: with
``synchronous=NORMAL`` a commit is safe against a crash of the process, and the log is
flushed to disk at each checkpoint, as before. Other connections keep SQLite's automatic
checkpoints.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("finance.sqlite")
INTERVAL = 5.0  # seconds between checkpoints while the file is being written


class WalCheckpointer:
    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self._path = path
        self._interval = interval
        self._written = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        # The last checkpoint's (busy, frames in the log, frames checkpointed).
        self.last: tuple[int, int, int] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """The file was written: checkpoint it at the next turn."""
        self._written.set()

    def close(self) -> None:
        self._stop.set()
        self._written.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.is_set():
                self._written.wait()
                if self._stop.wait(self._interval):
                    break
                self._written.clear()
                self.checkpoint(connection)
            self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.exception("WAL checkpoint failed")
            return
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        self.checkpoints += 1
