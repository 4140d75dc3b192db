"""Blocking database work of an async handler, run off the event loop.

A data call's handler is ``async`` (it awaits the ledger writer's group commit without
holding a thread), but its guard and reads are synchronous SQLAlchemy code. ``Reads``
runs such a unit of work with a connection of its own, so that the event loop serves
other requests while it waits on the database:

- ``ThreadReads``: in a thread pool of its own (as many threads as its engine has
  connections, so a thread never waits for one, and slow reads cannot take the threads
  FastAPI runs ``def`` handlers in, ``/healthz`` among them), on a synchronous engine.
  Handing work over through ``loop.run_in_executor`` also costs less than through
  AnyIO's worker threads (``run_in_threadpool``): about 0.1 ms of CPU a call, measured
  in process on the data call;
- ``AsyncReads``: on an async engine (psycopg's async connections on PostgreSQL, aiosqlite
  on SQLite), the synchronous code driven by ``AsyncConnection.run_sync``.

Both read in autocommit (a data call's reads need no transaction: saves its BEGIN and
ROLLBACK) from a small pool of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from finance.core.db import make_engine, sqlite_pragmas

T = TypeVar("T")
POOL = 8


class Reads(Protocol):
    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)``, off the event loop."""
        ...

    def close(self) -> None: ...


class ThreadReads:
    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url, connections=POOL, autocommit=True)
        self._executor = ThreadPoolExecutor(POOL, thread_name_prefix="reads")

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            return work(connection)

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        self.engine.dispose()


def async_url(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite+aiosqlite" + url[len("sqlite") :]
    return url  # postgresql+psycopg: the same dialect, async connections


class AsyncReads:
    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=POOL,
            max_overflow=0,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as connection:
            return await connection.run_sync(work)

    def close(self) -> None:
        self.engine.sync_engine.dispose()


def reads(url: str, io: str) -> Reads:
    return AsyncReads(url) if io == "async" else ThreadReads(url)
