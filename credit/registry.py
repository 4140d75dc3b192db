"""The model registry: versions with their artifacts, and which one is live.

A version's artifact directory (under ``<data dir>/models/<version>``) holds the
LightGBM model text and its metadata (``model.txt``, ``meta.json``), the scorecard
challenger and the evaluation report; it is written once and never changed. Exactly one
version is active; promoting another retires it, rollback returns to the version the
active one replaced. Loaded models are cached by version, so finding the live model costs
one indexed query and a newly promoted model is picked up on the next call.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.evaluate import render_html, render_text
from credit.model import SCORECARD_FILE, CreditModel
from credit.models import CreditModelVersion, ModelStatus
from credit.scorecard import Scorecard
from credit.train import TrainResult
from finance.core.errors import Conflict, NotFound
from finance.core.types import utcnow

REPORT_JSON = "report.json"
CACHE_SIZE = 4


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def register(
    session: Session, result: TrainResult, data_dir: Path, *, created_by: str
) -> CreditModelVersion:
    """Store a trained model as a new candidate version; returns its registry row."""
    created = utcnow()
    stem = f"{created:%Y%m%d-%H%M%S}-{result.model.meta['fingerprint'][:6]}"
    version, suffix = stem, 1
    while session.scalar(
        select(CreditModelVersion.id).where(CreditModelVersion.version == version)
    ):
        suffix += 1
        version = f"{stem}-{suffix}"
    directory = models_dir(data_dir) / version
    result.model.version = version
    result.report["version"] = version
    result.model.save(directory)
    (directory / SCORECARD_FILE).write_text(json.dumps(result.scorecard.to_dict(), indent=1))
    (directory / REPORT_JSON).write_text(json.dumps(result.report, ensure_ascii=False, indent=1))
    (directory / "report.txt").write_text(render_text(result.report))
    (directory / "report.html").write_text(render_html(result.report))
    row = CreditModelVersion(
        version=version,
        status=ModelStatus.CANDIDATE.value,
        source=result.report["source"],
        artifact_dir=version,
        data_fingerprint=result.model.meta["fingerprint"],
        metrics={k: result.report[k] for k in ("auc", "ks", "gini", "brier", "n_train", "n_test")}
        | {"oracle_auc": result.report["oracle_auc"]},
        created_at=created,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def list_versions(session: Session) -> list[CreditModelVersion]:
    return list(
        session.scalars(select(CreditModelVersion).order_by(CreditModelVersion.created_at.desc()))
    )


def get_version(session: Session, version: str) -> CreditModelVersion:
    row = session.scalar(select(CreditModelVersion).where(CreditModelVersion.version == version))
    if row is None:
        raise NotFound(f"no model version {version!r}")
    return row


# The live version: built once, run through the Core (about 0.1 ms; the ORM's query took
# most of a millisecond); an online score reads it inside its features' statement
# (``credit.features.read.union_statement``), so it costs no round trip of its own.
ACTIVE_VERSION = (
    select(CreditModelVersion.__table__.c.version)
    .where(CreditModelVersion.__table__.c.status == ModelStatus.ACTIVE.value)
    .limit(1)  # ``promote`` keeps one live; as a scalar subquery it must be one row
)


def active_version(session: Session) -> str | None:
    """The live version."""
    version = session.connection().execute(ACTIVE_VERSION).scalar()
    return None if version is None else str(version)


def promote(session: Session, version: str, *, by: str) -> CreditModelVersion:
    """Make ``version`` the live model; the current active one is retired."""
    target = get_version(session, version)
    if target.status == ModelStatus.ACTIVE.value:
        raise Conflict(f"model {version} is already active")
    current = session.scalar(
        select(CreditModelVersion)
        .where(CreditModelVersion.status == ModelStatus.ACTIVE.value)
        .with_for_update()
    )
    now = utcnow()
    if current is not None:
        current.status = ModelStatus.RETIRED.value
        current.retired_at = now
        session.flush()
    target.status = ModelStatus.ACTIVE.value
    target.promoted_at, target.promoted_by, target.retired_at = now, by, None
    target.previous_version = None if current is None else current.version
    session.flush()
    return target


def rollback(session: Session, *, by: str) -> CreditModelVersion:
    """Retire the active model and reactivate the one it replaced."""
    current = session.scalar(
        select(CreditModelVersion)
        .where(CreditModelVersion.status == ModelStatus.ACTIVE.value)
        .with_for_update()
    )
    if current is None:
        raise Conflict("no active model to roll back")
    if current.previous_version is None:
        raise Conflict(
            f"model {current.version} replaced no earlier model; nothing to roll back to"
        )
    previous = get_version(session, current.previous_version)
    now = utcnow()
    current.status, current.retired_at = ModelStatus.RETIRED.value, now
    session.flush()
    previous.status, previous.retired_at = ModelStatus.ACTIVE.value, None
    previous.promoted_at, previous.promoted_by = now, by
    session.flush()
    return previous


class ModelCache:
    """Loaded models by version (artifacts never change, so a version loads once)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._models: OrderedDict[tuple[str, str], CreditModel] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, data_dir: Path, version: str) -> CreditModel:
        key = (str(data_dir), version)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        model = CreditModel.load(models_dir(data_dir) / version, version=version)
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model


CACHE = ModelCache()


def warm(session: Session, data_dir: Path) -> str | None:
    """Load the live model into this process's cache and prepare it for scoring, so the
    first score or chunk after a worker starts does not pay for it (about a quarter of a
    second for the platform's model); the live version, or None when none is live."""
    live = active_version(session)
    if live is None:
        return None
    live_model(data_dir, live).prepare()
    return live


def load_model(session: Session, data_dir: Path, version: str = "active") -> CreditModel:
    """The model of ``version``, or the live one for ``"active"``."""
    if version == "active":
        return live_model(data_dir, active_version(session))
    get_version(session, version)
    return CACHE.get(data_dir, version)


def live_model(data_dir: Path, live: str | None) -> CreditModel:
    """The model of the live version ``live`` (as read by ``ACTIVE_VERSION``; None: no
    model is live)."""
    if live is None:
        raise NotFound("no active credit model; train one and promote it")
    return CACHE.get(data_dir, str(live))


def load_scorecard(data_dir: Path, version: str) -> Scorecard:
    data = json.loads((models_dir(data_dir) / version / SCORECARD_FILE).read_text())
    return Scorecard.from_dict(data)
