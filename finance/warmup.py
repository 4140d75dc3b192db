"""What a server process does once it has started: load what every request will need
(the live credit model, the parsed online catalogue) and move everything alive then out
of the garbage collector's way.

Matching one enterprise against a thousand products allocates a few thousand objects, so
the cyclic garbage collector runs during it; each of its full passes walked every object
the process holds (the model, the parsed catalogue, SQLAlchemy's mappers and caches) and
took 50-150 ms, the tail of ``bench/matching.py``. ``gc.freeze()`` after start-up moves
those long-lived objects to a generation the collector never walks (Python's documented
use of it); what requests allocate is collected as before. The freeze is undone when the
app shuts down, so a process that runs several apps (the tests) collects them afterwards.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from credit.registry import active_version, load_model
from products.matching import online_candidates

log = logging.getLogger("finance.warmup")


def warm(sessions: sessionmaker[Session], data_dir: Path) -> None:
    """Load the live model and the parsed online catalogue into this process's caches.
    A database without its schema yet, or a model whose files are missing, is left for
    the first request to report."""
    try:
        with sessions() as session:
            if active_version(session) is not None:
                load_model(session, data_dir)
            online_candidates(session)
    except (DBAPIError, OSError) as exc:
        log.warning("warm-up skipped: %s", exc)


def freeze() -> None:
    """Exempt every object alive now from future collections. No ``gc.collect()``
    before it: what little garbage start-up leaves is frozen with the rest, and a full
    collection there cost the test suite (hundreds of apps started in processes holding
    hundreds of megabytes) a third of its time."""
    gc.freeze()


def unfreeze() -> None:
    gc.unfreeze()
