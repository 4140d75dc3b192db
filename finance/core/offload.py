"""Blocking database work of an async handler, run off the event loop.

A data call's handler is ``async`` (it awaits the ledger writer's group commit without
holding a thread), but its guard and reads are synchronous SQLAlchemy code. ``Reads``
runs such a unit of work with a reading connection of its own (autocommit: a data call's
reads need no transaction, which saves its BEGIN and ROLLBACK), in a thread pool of its
own, so that the event loop serves other requests while it waits on the database.

The pool has as many threads as its engine has connections, so a thread never waits for
a connection, and slow reads cannot take the threads FastAPI runs ``def`` handlers in
(``/healthz`` among them). Work is handed over through ``loop.run_in_executor``, which
costs about 0.1 ms of CPU less per call than AnyIO's worker threads
(``run_in_threadpool``), measured in process on the data call.

Async drivers (SQLAlchemy's asyncio extension on psycopg's async connections, and
aiosqlite) were measured against this with ``bench/data_call.py`` and cost more CPU per
call on both databases (``docs/authz.md``, "Benchmark").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine

from finance.core.db import make_engine

T = TypeVar("T")
POOL = 8


class Reads:
    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url, connections=POOL, autocommit=True)
        self._executor = ThreadPoolExecutor(POOL, thread_name_prefix="reads")

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            return work(connection)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)``, in the pool's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        self.engine.dispose()
