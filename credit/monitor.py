"""Monitoring the live model: population stability (PSI) of the score and of each
feature against the training population, and discrimination and bad rate by monthly
vintage of loans whose outcome is known.

PSI = sum over bins of ``(actual - expected) * ln(actual / expected)``; below 0.1 the
population is stable, 0.1 to 0.25 worth watching, 0.25 and above it has shifted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import evaluate
from credit.dataset import loan_outcomes
from credit.features import batch_features
from credit.model import CreditModel
from credit.scoring import chunk_bounds
from credit.train import shares
from finance.enterprises.models import Enterprise

WATCH, SHIFT = 0.1, 0.25
FLOOR = 1e-4


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=np.float64), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def flag(value: float) -> str:
    return "shift" if value >= SHIFT else "watch" if value >= WATCH else "stable"


def current_population(
    session: Session,
    model: CreditModel,
    as_of: dt.date,
    chunk_size: int,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Model inputs and scores of every enterprise as of ``as_of``."""
    matrices, scores = [], []
    for first, last in chunk_bounds(session, chunk_size):
        usccs = list(
            session.scalars(
                select(Enterprise.uscc).where(Enterprise.uscc >= first, Enterprise.uscc <= last)
            )
        )
        requests = pd.DataFrame({"uscc": usccs, "as_of": [as_of] * len(usccs)})
        x = model.matrix(batch_features(session, requests, uscc_range=(first, last)))
        matrices.append(x)
        scores.append(model.scale.points(model.predict_pd(x)).astype(np.float64))
        if on_chunk is not None:
            on_chunk(len(usccs))
    if not matrices:
        return np.empty((0, len(model.features))), np.empty(0)
    return np.vstack(matrices), np.concatenate(scores)


def vintages(session: Session, model: CreditModel, observed_until: dt.date) -> list[dict[str, Any]]:
    """Per month of disbursement: loans, bad rate, mean PD at disbursement and KS."""
    loans = loan_outcomes(session, observed_until)
    if loans.empty:
        return []
    # As of disbursement, for the amount lent: the PD the model gives the application.
    requests = loans[["uscc", "disbursed_on", "amount_fen"]]
    requests = requests.rename(columns={"disbursed_on": "as_of"})
    loans["pd"] = model.predict_pd(model.matrix(batch_features(session, requests)))
    loans["month"] = pd.to_datetime(loans["disbursed_on"]).dt.strftime("%Y-%m")
    rows = []
    for month, group in loans.groupby("month", sort=True):
        target = group["bad"].to_numpy()
        both = 0 < target.sum() < len(target)
        rows.append(
            {
                "vintage": str(month),
                "loans": len(group),
                "bad_rate": float(target.mean()),
                "mean_pd": float(group["pd"].mean()),
                "ks": evaluate.ks(target, group["pd"].to_numpy()) if both else None,
            }
        )
    return rows


def monitor(
    session: Session,
    model: CreditModel,
    *,
    as_of: dt.date,
    observed_until: dt.date,
    chunk_size: int = 5000,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    reference = model.meta["reference"]
    x, scores = current_population(session, model, as_of, chunk_size, on_chunk)
    score_psi = psi(reference["score"]["shares"], shares(scores, reference["score"]["edges"]))
    features: list[dict[str, Any]] = []
    for i, name in enumerate(model.features):
        if name not in reference:
            continue
        value = psi(reference[name]["shares"], shares(x[:, i], reference[name]["edges"]))
        features.append({"feature": name, "psi": value, "flag": flag(value)})
    features.sort(key=lambda row: -row["psi"])
    return {
        "model_version": model.version,
        "as_of": as_of.isoformat(),
        "observed_until": observed_until.isoformat(),
        "population": len(scores),
        "score_psi": score_psi,
        "score_flag": flag(score_psi),
        "features": features,
        "flagged": [row["feature"] for row in features if row["flag"] != "stable"],
        "vintages": vintages(session, model, observed_until),
    }


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"credit model {report['model_version']} monitoring as of {report['as_of']}"
        f" ({report['population']} enterprises)",
        f"score PSI {report['score_psi']:.4f}  [{report['score_flag']}]",
        "",
        "feature PSI (highest first)",
    ]
    lines += [f"  {r['feature']:34} {r['psi']:.4f}  {r['flag']}" for r in report["features"]]
    lines += ["", "vintages (month disbursed: loans, bad rate, mean PD, KS)"]
    for row in report["vintages"]:
        ks = "-" if row["ks"] is None else f"{row['ks']:.3f}"
        lines.append(
            f"  {row['vintage']}  {row['loans']:>6}  {row['bad_rate']:.4f}"
            f"  {row['mean_pd']:.4f}  {ks}"
        )
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], data_dir: Path) -> Path:
    """Write the report as JSON and text under ``<data dir>/reports``; returns the JSON."""
    directory = data_dir / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"monitor-{report['model_version']}-{report['as_of']}"
    path = directory / f"{stem}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    (directory / f"{stem}.txt").write_text(render_text(report))
    return path
