"""FastAPI dependencies shared by every router: one transaction per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker


def get_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the endpoint returns and rolls back if it
    raises. Services only ``flush()``."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


@contextmanager
def request_transaction(request: Request) -> Iterator[Session]:
    """The same unit of work as ``SessionDep``, for an async endpoint that runs its whole
    synchronous part in one worker thread: FastAPI runs a sync generator dependency's
    entry and exit in worker threads of their own, two more hops on a hot path."""
    session_scope = contextmanager(get_session)(request)
    with session_scope as session:
        yield session
