"""Scoring: one enterprise online (the 310 flow), every enterprise in chunks (profile
scores), and files a bank brings.

Online and batch scoring take the PD from the sum of the SHAP contributions (which is the
booster's raw log-odds), so one tree traversal gives both the PD and the reasons, and the
two paths give the same score for the same features.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from credit.dataset import score_columns
from credit.features import batch_features, enterprise_features
from credit.model import CreditModel
from credit.models import CreditScore
from credit.reasons import adverse_reasons
from credit.registry import load_model
from finance.core.errors import NotFound
from finance.core.types import utcnow
from finance.enterprises.models import Enterprise

DEFAULT_CHUNK = 5000
UNREGISTERED = "unregistered"  # a model used straight from training, before the registry


@dataclass(frozen=True, slots=True)
class ScoreResult:
    uscc: str
    as_of: dt.date
    pd: float
    score: int
    band: str
    reasons: list[dict[str, Any]]
    model_version: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_enterprise(
    session: Session,
    uscc: str,
    as_of: dt.date,
    *,
    data_dir: Path,
    model: CreditModel | None = None,
    amount_fen: int | None = None,
) -> ScoreResult:
    """PD, score, band and up to four adverse reasons for one enterprise as of a date, by
    the given model or else the live one. ``amount_fen`` is the amount applied for (the
    310 flow passes it); without it (a profile score) the model's typical amount
    relative to revenue stands in."""
    if model is None:
        model = load_model(session, data_dir)
    values = enterprise_features(session, uscc, as_of, amount_fen)
    if values["size_class"] is None and session.get(Enterprise, uscc) is None:
        raise NotFound(f"no enterprise {uscc}")
    x = model.row(values)
    contributions = model.contributions(x)[0]
    pd_ = float(model.calibration.apply(np.array([contributions.sum()]))[0])
    score = int(model.scale.points(np.array([pd_]))[0])
    return ScoreResult(
        uscc=uscc,
        as_of=as_of,
        pd=pd_,
        score=score,
        band=model.scale.band(score),
        reasons=adverse_reasons(
            model.features,
            contributions[:-1],
            [values[name] for name in model.features],
            filled=model.fill,
        ),
        model_version=model.version or UNREGISTERED,
    )


def store(session: Session, results: list[ScoreResult]) -> None:
    """Write scores, replacing any earlier score of the same enterprise, date and model
    (so re-running a task or a chunk leaves one row)."""
    if not results:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    rows = [
        {
            "uscc": r.uscc,
            "as_of": r.as_of,
            "model_version": r.model_version,
            "pd": r.pd,
            "score": r.score,
            "band": r.band,
            "reasons": r.reasons,
            "scored_at": now,
        }
        for r in results
    ]
    statement = insert(CreditScore).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["uscc", "as_of", "model_version"],
        set_={
            name: statement.excluded[name]
            for name in ("pd", "score", "band", "reasons", "scored_at")
        },
    )
    session.execute(statement)
    session.flush()


def explain(
    model: CreditModel, features: pd.DataFrame
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[list[dict[str, Any]]]]:
    """PD and adverse reasons of every row of a feature frame."""
    contributions = model.contributions(model.matrix(features))
    pds = model.calibration.apply(contributions.sum(axis=1))
    columns = [features[name].tolist() for name in model.features]
    reasons = [
        adverse_reasons(
            model.features,
            contributions[row, :-1],
            [column[row] for column in columns],
            filled=model.fill,
        )
        for row in range(len(features))
    ]
    return pds, reasons


def score_frame(model: CreditModel, features: pd.DataFrame, as_of: dt.date) -> list[ScoreResult]:
    """Scores with reasons for a frame of features indexed by USCC."""
    pds, reasons = explain(model, features)
    scores = model.scale.points(pds)
    return [
        ScoreResult(
            uscc=str(uscc),
            as_of=as_of,
            pd=float(pds[row]),
            score=int(scores[row]),
            band=model.scale.band(int(scores[row])),
            reasons=reasons[row],
            model_version=model.version or UNREGISTERED,
        )
        for row, uscc in enumerate(features.index)
    ]


def chunk_bounds(session: Session, size: int = DEFAULT_CHUNK) -> list[tuple[str, str]]:
    """The enterprise registry cut into USCC ranges of about ``size`` enterprises."""
    usccs = list(session.scalars(select(Enterprise.uscc).order_by(Enterprise.uscc)))
    return [(usccs[i], usccs[min(i + size, len(usccs)) - 1]) for i in range(0, len(usccs), size)]


def enterprise_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def rescore_chunk(
    session: Session, model: CreditModel, as_of: dt.date, first: str, last: str
) -> int:
    """Score every enterprise whose USCC lies in ``[first, last]`` and store the scores."""
    usccs = list(
        session.scalars(
            select(Enterprise.uscc)
            .where(Enterprise.uscc >= first, Enterprise.uscc <= last)
            .order_by(Enterprise.uscc)
        )
    )
    if not usccs:
        return 0
    requests = pd.DataFrame({"uscc": usccs, "as_of": [as_of] * len(usccs)}, index=usccs)
    results = score_frame(model, batch_features(session, requests, uscc_range=(first, last)), as_of)
    store(session, results)
    return len(results)


def score_file(model: CreditModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The file's rows, in order, with ``pd`` and ``score`` columns added."""
    x = model.matrix(score_columns(frame, model.features))
    pds = model.predict_pd(x)
    scored = frame.copy()
    scored["pd"] = pds
    scored["score"] = model.scale.points(pds)
    return scored
