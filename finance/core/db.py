"""Database engine, sessions and the declarative base.

SQLite runs in WAL mode with foreign keys on; PostgreSQL is reached through psycopg 3.
The schema is created only by Alembic migrations (see ``migrations/``), tests included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core
from psycopg import pq
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from finance.core.errors import Conflict
from finance.core.settings import Settings, get_settings

T = TypeVar("T")
log = logging.getLogger("finance.db")
_SURVIVING = "writes_surviving_rollback"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def json_text(value: Any) -> str:
    """The text a JSON column's value is stored as (every engine's ``json_serializer``,
    and the bulk writers' COPY): compact, with non-ASCII characters as UTF-8 rather than
    ``\\u`` escapes (a credit score's Chinese reasons take half the bytes), encoded by
    pydantic-core (a score's reasons in a third of ``json.dumps``'s CPU). Read back, the
    value is what ``json.dumps`` would have stored; unlike it, dates and decimals are
    written as strings instead of refused."""
    return pydantic_core.to_json(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 32 MiB of page cache per connection (the default is 2 MiB): bulk loads and the
    # credit feature reads touch index pages of multi-gigabyte files.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def make_engine(url: str, *, connections: int | None = None, autocommit: bool = False) -> Engine:
    """An engine for ``url``; ``connections`` caps its pool (a dedicated engine for one
    writer needs exactly one). Such a capped engine does not ping its connections before
    each use: they are used all the time, and a dead one is replaced after the failure it
    causes. ``autocommit``: every statement commits on its own (readers that need no
    transaction save its BEGIN and ROLLBACK)."""
    pool: dict[str, Any] = (
        {} if connections is None else {"pool_size": connections, "max_overflow": 0}
    )
    if autocommit:
        # No transaction is ever open on these connections: nothing to roll back when one
        # goes back to the pool.
        pool |= {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None}
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, json_serializer=json_text, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if connections is None:
        pool |= {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
    engine = create_engine(url, json_serializer=json_text, **pool)
    event.listen(engine, "before_cursor_execute", _binary_results)
    return engine


# An execution option: the statement's rows come back from PostgreSQL in the binary
# format instead of text. For readers that take the driver's rows as they are (the credit
# features' batch read): psycopg gives the same Python values either way, but the server
# no longer writes, nor the client parses, every value as text (a ``bytea`` doubles in
# hex). Measured on the feature reads of 40,000 enterprises: client 16 -> 9.4 µs and
# server 16 -> 11 µs of CPU an enterprise. SQLAlchemy still compiles the statement and
# processes its parameters; results it would convert itself are not for this option.
BINARY_RESULTS = "binary_results"


def _binary_results(
    _conn: Connection,
    cursor: Any,
    _statement: str,
    _parameters: Any,
    context: Any,
    _executemany: bool,
) -> None:
    if context is not None and context.execution_options.get(BINARY_RESULTS):
        cursor.format = pq.Format.BINARY


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    return _engine_for((settings or get_settings()).sqlalchemy_url)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        roll_back(session)
        raise
    finally:
        session.close()


def survive_rollback(session: Session, write: Callable[[Session], object]) -> None:
    """``write`` has just been done in the session's transaction and must hold whatever
    becomes of it: if the transaction rolls back (``roll_back``), it is done again in a
    transaction of its own. For what must be remembered even of a request that fails,
    such as the ``jti`` of the DPoP proof it came with (a proof is good for one request,
    answered or not: otherwise a request refused for a passing reason, a 409, could be
    replayed by whoever holds the proof and its token once the reason has passed)."""
    session.info.setdefault(_SURVIVING, []).append(write)


def roll_back(session: Session) -> None:
    """Roll the session's transaction back, then commit the writes that must survive it
    (``survive_rollback``) in a new one. If those cannot be written either (the database
    is gone), that is logged and the caller's own error stands."""
    writes: list[Callable[[Session], object]] = session.info.pop(_SURVIVING, [])
    session.rollback()
    if not writes:
        return
    try:
        for write in writes:
            write(session)
        session.commit()
    except Exception:
        log.warning("writes meant to survive a rollback were lost", exc_info=True)
        session.rollback()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_SURVIVING, None)  # committed with their transaction


def retry_once(session: Session, work: Callable[[], T], *, on: Collection[str]) -> T:
    """Run ``work``, a unit of work on ``session``; if it loses a race, raising a
    ``Conflict`` whose ``error`` is one of ``on``, run the whole of it once more on the
    rows as they now are. A second loss is the caller's answer (a 409).

    Only for races lost at the work's first write (a conditional UPDATE that changed no
    row), so the first attempt wrote nothing and running it again is safe. The second
    attempt runs in the same transaction, with everything the session holds expired so
    that every row is read again: each statement sees the latest commit (PostgreSQL at
    read committed; on SQLite the failed UPDATE already holds the database's write lock,
    so nobody else commits before this transaction ends). Not in a new transaction: the
    caller may have written before the work (a request's authentication records each
    DPoP proof's ``jti`` there, so the proof cannot be replayed); rolling back would lose
    that, and a second session beside it would wait for its lock on SQLite."""
    try:
        return work()
    except Conflict as lost:
        if lost.extensions.get("error") not in on:
            raise
    session.expire_all()
    return work()


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


# PostgreSQL's own rule for when autovacuum analyses a table (its defaults): more rows
# changed than 50 plus a tenth of the table.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1


def refresh_statistics(connection: Connection, changed: Mapping[str, int]) -> list[str]:
    """After a bulk write, bring PostgreSQL's planner statistics of the tables written up
    to date in the writer's own transaction (``changed``: table name -> rows written),
    instead of waiting for autovacuum, which may be behind or off. A table is analysed
    when it never was, or when its change is as large as the one that would make
    autovacuum analyse it. Without statistics the planner takes a freshly loaded table
    for a handful of rows: a batch feature read joined the industry index to 100,000
    enterprises row by row. Returns the tables analysed; nothing on SQLite, whose planner
    keeps no statistics unless asked. ``ANALYZE`` in a transaction samples the rows the
    transaction wrote, and its statistics are committed with them."""
    if connection.dialect.name != "postgresql":
        return []
    names = sorted(name for name, rows in changed.items() if rows > 0)
    if not names:
        return []
    estimates: dict[str, float] = {
        str(name): float(rows)
        for name, rows in connection.execute(
            text(
                "SELECT relname, reltuples FROM pg_class"
                " WHERE relname = ANY(:names) AND relkind IN ('r', 'p')"
                " AND pg_table_is_visible(oid)"
            ),
            {"names": names},
        )
    }
    stale = [
        name
        for name in names
        if name in estimates
        and (
            estimates[name] < 0  # never analysed
            or changed[name] > ANALYZE_THRESHOLD + ANALYZE_SCALE_FACTOR * estimates[name]
        )
    ]
    for name in stale:
        connection.execute(text(f'ANALYZE "{name}"'))
    return stale
