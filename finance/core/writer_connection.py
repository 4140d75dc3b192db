"""The database connection of a process's one writer thread, tuned for a writer that
commits all the time (the data calls' ledger writer: ``authz.ledger.writer``).

On a SQLite file two things are done differently from an ordinary connection:

- The writers of the server's processes take turns through an exclusive ``flock`` on a
  file beside the database before they begin. SQLite's own busy handler waits for its
  lock by sleeping in growing steps (1, 2, 5, 10 ... 100 ms), which under a steady stream
  of short transactions from several processes turns into waits of hundreds of
  milliseconds; the kernel wakes a ``flock`` waiter as soon as the lock is free.
- Its commits never checkpoint the WAL (``wal_autocheckpoint=0``); a checkpointer thread
  does, beside it (``finance.core.sqlite_wal``).

On PostgreSQL it is a plain connection of its own: the writer's callers wait for it while
holding theirs, so drawing from their pool could leave it waiting for a connection that
never comes back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, event

from finance.core.db import make_engine
from finance.core.sqlite_wal import WalCheckpointer


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


class WriterConnection:
    """One connection, opened on first use and kept; ``transaction()`` is one unit of the
    writer's work. Used from one thread at a time."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url, connections=1)
        database = self._engine.url.database
        on_file = (
            self._engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"
        )
        self._lock_path = f"{database}.writer-lock" if on_file else None
        self.checkpointer = WalCheckpointer(database) if on_file and database else None
        if self.checkpointer is not None:
            event.listen(self._engine, "connect", _no_autocheckpoint)
        self._connection: Connection | None = None

    def start(self) -> None:
        """Start what runs beside the writer (in the process that writes)."""
        if self.checkpointer is not None:
            self.checkpointer.start()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction on the writer's connection, committed when the block ends, in this
        process's turn among the processes sharing a SQLite file. After a failure the
        connection is dropped (it may be broken, or inside a transaction SQLite could not
        roll back) and the next transaction starts from a fresh one."""
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            with self._turn(), self._connection.begin():
                yield self._connection
        except BaseException:
            self.drop()
            raise
        if self.checkpointer is not None:
            self.checkpointer.written()

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()
                connection.close()

    def close(self, *, owner: bool = True) -> None:
        """Close the connection; ``owner``: this process started the checkpointer."""
        if self.checkpointer is not None and owner:
            self.checkpointer.close()
        self.drop()
        self._engine.dispose()
