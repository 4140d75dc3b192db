"""Blocking database work of an async handler, run off the event loop.

A data call's handler is ``async`` (it awaits the ledger writer's group commit without
holding a thread), but its guard and reads are synchronous SQLAlchemy code. ``Reads``
runs such a unit of work with a connection of its own, so that the event loop serves
other requests while it waits on the database:

- ``ThreadReads``: in the thread pool FastAPI runs ``def`` handlers in
  (``run_in_threadpool``), on a synchronous engine;
- ``AsyncReads``: on an async engine (psycopg's async connections on PostgreSQL, aiosqlite
  on SQLite), the synchronous code driven by ``AsyncConnection.run_sync``.

Both read in autocommit (a data call's reads need no transaction: saves its BEGIN and
ROLLBACK) from a small pool of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.concurrency import run_in_threadpool

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

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            return work(connection)

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await run_in_threadpool(self._run, work)

    def close(self) -> None:
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
