"""The group-commit writer: entries from threads and from event loops land in one
intact chain, each submitter released only after its entry committed; on a SQLite file
the writer's commits do not checkpoint the WAL, its own checkpointer thread does."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest
from sqlalchemy import Engine, func, select

from authz.ledger import service as ledger
from authz.ledger.service import PendingCall
from authz.ledger.writer import LedgerWriter
from authz.models import LedgerEntry
from finance.core.db import transaction
from finance.core.sqlite_wal import WalCheckpointer

NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


def _fields(actor: str) -> dict[str, object]:
    return ledger.entry_fields(at=NOW, action="data_call", actor=actor, outcome="allowed")


def test_threads_and_event_loops_share_one_chain(engine: Engine) -> None:
    writer = LedgerWriter(engine)
    try:

        def from_thread(index: int) -> None:
            for n in range(20):
                entry = writer.append(_fields(f"thread-{index}-{n}"))
                assert entry.settled

        async def from_loop(index: int) -> None:
            async def one(n: int) -> None:
                call = await writer.record_call(PendingCall(_fields(f"loop-{index}-{n}")))
                assert call.settled

            await asyncio.gather(*(one(n) for n in range(40)))

        threads = [threading.Thread(target=from_thread, args=(i,)) for i in range(3)]
        loops = [threading.Thread(target=asyncio.run, args=(from_loop(i),)) for i in range(2)]
        for worker in threads + loops:
            worker.start()
        for worker in threads + loops:
            worker.join()
    finally:
        writer.close()
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 3 * 20 + 2 * 40
        assert ledger.verify(session).intact


def _sqlite_writer(engine: Engine) -> tuple[LedgerWriter, WalCheckpointer]:
    """A writer and its WAL checkpointer; skipped on a database without a WAL to checkpoint."""
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL checkpoints are SQLite's")
    writer = LedgerWriter(engine)
    assert writer.checkpointer is not None
    return writer, writer.checkpointer


def test_the_writer_checkpoints_the_wal_beside_its_commits(engine: Engine) -> None:
    writer, checkpointer = _sqlite_writer(engine)
    try:
        writer.append(_fields("first"))
        with writer._database.transaction() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for n in range(50):
            writer.append(_fields(f"entry-{n}"))
    finally:
        writer.close()  # checkpoints once more on its way out
    assert checkpointer.checkpoints >= 1
    assert checkpointer.last is not None
    busy, frames, copied = checkpointer.last
    assert (busy, copied) == (0, frames)  # every frame of the log is in the database file
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 51


def test_a_checkpoint_follows_writes_within_its_interval(engine: Engine) -> None:
    writer, checkpointer = _sqlite_writer(engine)
    checkpointer._interval = 0.05
    try:
        writer.append(_fields("first"))
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpointer.checkpoints >= 1
    finally:
        writer.close()
