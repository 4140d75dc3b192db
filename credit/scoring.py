"""Scoring: one enterprise online (the 310 flow), every enterprise in chunks (profile
scores), and files a bank brings.

Online and batch scoring take the PD from the sum of the SHAP contributions (which is the
booster's raw log-odds), so one tree traversal gives both the PD and the reasons, and the
two paths give the same score for the same features.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
from psycopg.errors import UniqueViolation
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from credit.dataset import score_columns
from credit.features import FEATURE_NAMES, feature_columns
from credit.features.compute import compute
from credit.features.inputs import day_number
from credit.features.read import Requests, read
from credit.features.service import feature_columns_also, one_request
from credit.model import Columns, CreditModel
from credit.models import CreditScore
from credit.reasons import adverse_reasons
from credit.registry import ACTIVE_VERSION, live_model
from finance.core.db import json_text
from finance.core.errors import NotFound
from finance.core.gc_pause import cyclic_gc_paused
from finance.core.pgcopy import copy_rows
from finance.core.types import utcnow
from finance.enterprises.models import Enterprise

DEFAULT_CHUNK = 5000
# Scores written by COPY on PostgreSQL from this many at once: fewer (one enterprise
# online) go by the upsert, whose one statement costs less than a savepoint and a COPY.
COPY_FROM = 100
_SCORES = cast(Table, CreditScore.__table__)
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
    relative to revenue stands in. The batch computation on one request."""
    request = one_request(uscc, as_of, amount_fen)
    if model is None:  # the live version is read in the same round trip as the rows
        columns, live = feature_columns_also(session, request, also=ACTIVE_VERSION)
        model = live_model(data_dir, live)
    else:
        columns = feature_columns(session, request)
    if columns["size_class"][0] is None and session.get(Enterprise, uscc) is None:
        raise NotFound(f"no enterprise {uscc}")
    return score_features(model, columns, [uscc], as_of)[0]


def score_features(
    model: CreditModel, columns: Columns, usccs: Sequence[str], as_of: dt.date
) -> list[ScoreResult]:
    """Scores with reasons from feature columns (one row per USCC): what online and batch
    scoring both do after the features."""
    pds, reasons = explain(model, columns)
    scores = model.scale.points(pds)
    version = model.version or UNREGISTERED
    band = model.scale.band
    return [
        ScoreResult(
            uscc=uscc,
            as_of=as_of,
            pd=pd_,
            score=score,
            band=band(score),
            reasons=row_reasons,
            model_version=version,
        )
        for uscc, pd_, score, row_reasons in zip(
            usccs, pds.tolist(), scores.tolist(), reasons, strict=True
        )
    ]


def store(session: Session, results: list[ScoreResult]) -> None:
    """Write scores, replacing any earlier score of the same enterprise, date and model
    (so re-running a task or a chunk leaves one row). One executemany of an upsert; on
    PostgreSQL, a chunk's worth of scores none of which is stored yet (the nightly case)
    is COPYed instead."""
    if not results:
        return
    dialect = session.get_bind().dialect.name
    now = utcnow()
    if dialect == "postgresql" and len(results) >= COPY_FROM and _copied(session, results, now):
        return
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
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
    session.connection().execute(_upsert(insert), rows)


def _copied(session: Session, results: list[ScoreResult], now: dt.datetime) -> bool:
    """COPY the scores in binary (``finance.core.pgcopy``), in a savepoint: True if they
    were written, False (nothing written) if one of them is stored already (a chunk run
    again, or redelivered while it ran), which the upsert then replaces. The server
    writes the rows in about half the CPU of the upsert's (no statement to parse, no
    conflict check per row), and the client encodes whole columns at once."""
    columns = {
        "model_version": pa.array([r.model_version for r in results], pa.string()),
        "as_of": pa.array([r.as_of for r in results], pa.date32()),
        "uscc": pa.array([r.uscc for r in results], pa.string()),
        "pd": pa.array([r.pd for r in results], pa.float64()),
        "score": pa.array([r.score for r in results], pa.int32()),
        "band": pa.array([r.band for r in results], pa.string()),
        "reasons": pa.array([json_text(r.reasons) for r in results], pa.string()),
        "scored_at": pa.array([now] * len(results), pa.timestamp("us", tz="UTC")),
    }
    try:
        with session.begin_nested():
            copy_rows(session.connection(), _SCORES, pa.table(columns))
    except UniqueViolation:
        return False
    return True


@functools.cache
def _upsert(insert: Any) -> Any:
    statement = insert(CreditScore.__table__)
    return statement.on_conflict_do_update(
        index_elements=["model_version", "as_of", "uscc"],
        set_={
            name: statement.excluded[name]
            for name in ("pd", "score", "band", "reasons", "scored_at")
        },
    )


def explain(
    model: CreditModel, features: Columns
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[list[dict[str, Any]]]]:
    """PD and adverse reasons of every row of feature columns (or a feature frame): the
    model's contributions (TreeSHAP) give both, the PD from their sum (the raw
    log-odds)."""
    contributions = model.contributions(model.matrix(features))
    pds = model.calibration.apply(contributions.sum(axis=1))
    columns = [_values(features[name]) for name in model.features]
    reasons = adverse_reasons(model.features, contributions[:, :-1], columns, filled=model.fill)
    return pds, reasons


def _values(column: Any) -> Sequence[Any]:
    return column.tolist() if isinstance(column, pd.Series) else column


def score_frame(model: CreditModel, features: pd.DataFrame, as_of: dt.date) -> list[ScoreResult]:
    """Scores with reasons for a frame of features indexed by USCC."""
    return score_features(model, features, [str(u) for u in features.index], as_of)


def chunk_bounds(session: Session, size: int = DEFAULT_CHUNK) -> list[tuple[str, str]]:
    """The enterprise registry cut into USCC ranges of about ``size`` enterprises."""
    usccs = list(session.scalars(select(Enterprise.uscc).order_by(Enterprise.uscc)))
    return [(usccs[i], usccs[min(i + size, len(usccs)) - 1]) for i in range(0, len(usccs), size)]


def chunk_sizes(bounds: Sequence[tuple[str, str]], total: int, size: int) -> list[int]:
    """How many enterprises each chunk of ``chunk_bounds(session, size)`` holds."""
    return [min(size, total - i * size) for i in range(len(bounds))]


def chunk_scored(session: Session, version: str, as_of: dt.date, first: str, last: str) -> bool:
    """Whether the scores of the USCC range ``[first, last]`` by this model version as of
    this date are stored. A chunk stores all its scores in one transaction, so one of
    them is enough: one probe of the key's index, where counting the date's scores (how
    the CLI followed the workers before) cost PostgreSQL up to 80 ms a poll near the end
    of a 100,000-enterprise night, five polls a second, on the cores the workers use."""
    probe = select(CreditScore.uscc).where(
        CreditScore.model_version == version,
        CreditScore.as_of == as_of,
        CreditScore.uscc >= first,
        CreditScore.uscc <= last,
    )
    return session.scalar(probe.limit(1)) is not None


def enterprise_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


STAGES = ("reading", "features", "predict", "writing")  # predict: PD, score and reasons


@dataclass(slots=True)
class Stages:
    """Wall and CPU seconds spent in each stage of batch rescoring, summed over chunks
    (CPU: this process's, as ``time.process_time`` counts it)."""

    wall: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def add(self, stage: str, wall: float, cpu: float) -> None:
        self.wall[stage] += wall
        self.cpu[stage] += cpu

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            "wall": {k: round(v, 3) for k, v in self.wall.items()},
            "cpu": {k: round(v, 3) for k, v in self.cpu.items()},
        }


def rescore_chunk(
    session: Session,
    model: CreditModel,
    as_of: dt.date,
    first: str,
    last: str,
    stages: Stages | None = None,
) -> int:
    """Score every enterprise whose USCC lies in ``[first, last]`` and store the scores
    (one per enterprise, date and model: a chunk run again replaces its rows). Adds the
    time of each stage to ``stages`` when given."""
    stages = stages if stages is not None else Stages()
    clock = [(time.perf_counter(), time.process_time())]

    def lap(stage: str) -> None:
        now = (time.perf_counter(), time.process_time())
        stages.add(stage, now[0] - clock[0][0], now[1] - clock[0][1])
        clock[0] = now

    # Every stage allocates container objects by the hundred thousand and makes no
    # cycles: the cyclic collector, walking them again and again, cost a sixth of the
    # chunk's CPU (``finance.core.gc_pause``).
    with cyclic_gc_paused():
        usccs = list(
            session.scalars(
                select(Enterprise.uscc)
                .where(Enterprise.uscc >= first, Enterprise.uscc <= last)
                .order_by(Enterprise.uscc)
            )
        )
        if not usccs:
            return 0
        requests = Requests(
            usccs=usccs,
            as_of_day=np.full(len(usccs), day_number(as_of), dtype=np.int64),
            amount_fen=np.full(len(usccs), np.nan),
        )
        inputs = read(session, requests, uscc_range=(first, last))
        lap("reading")
        computed = compute(inputs)
        columns = {name: computed[name] for name in FEATURE_NAMES}
        lap("features")
        results = score_features(model, columns, usccs, as_of)
        lap("predict")
        store(session, results)
        lap("writing")
    return len(results)


def score_file(model: CreditModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The file's rows, in order, with ``pd`` and ``score`` columns added."""
    x = model.matrix(score_columns(frame, model.features))
    pds = model.predict_pd(x)
    scored = frame.copy()
    scored["pd"] = pds
    scored["score"] = model.scale.points(pds)
    return scored
