"""FastAPI dependencies shared by every router: one transaction per request, committed
before the answer is sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from finance.core.db import roll_back
from finance.core.errors import Conflict, Unavailable

log = logging.getLogger("finance.db")


def get_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits when the endpoint returns and rolls back if it
    raises. Services only ``flush()``.

    Declared with ``scope="function"`` (``SessionDep``): FastAPI then runs the exit code
    as soon as the endpoint returns, before the response is sent, so a 2xx means the
    write is committed and visible to the caller's next request. (A request-scoped
    ``yield`` dependency exits after the response has gone out.) A commit that fails
    turns into a problem response and the client holds nothing that does not exist.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        try:
            session.commit()
        except IntegrityError as exc:
            # A concurrent request committed a conflicting row first.
            log.info("commit refused by a constraint", exc_info=exc)
            raise Conflict(
                "the change conflicts with one made at the same moment; nothing was saved"
            ) from exc
        except DataError:
            raise  # a value the database refuses: a 422 (finance.core.problems)
        except DBAPIError as exc:
            log.warning("commit failed", exc_info=exc)
            raise Unavailable(
                "the change could not be saved; nothing was changed, try again",
            ) from exc
    except BaseException:
        roll_back(session)
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
