"""Evaluation of PD predictions against outcomes: discrimination (AUC, Gini, KS),
accuracy (Brier), calibration by decile, score bands, and a readable report."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score, roc_curve

from credit.model import ScoreScale

Array = NDArray[np.float64]


def auc(target: NDArray[Any], pd_: Array) -> float:
    return float(roc_auc_score(target, pd_))


def ks(target: NDArray[Any], pd_: Array) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative distributions
    of bads and goods over the PD, i.e. ``max(TPR - FPR)``."""
    fpr, tpr, _ = roc_curve(target, pd_)
    return float(np.max(tpr - fpr))


def brier(target: NDArray[Any], pd_: Array) -> float:
    return float(np.mean((pd_ - target) ** 2))


def calibration_table(target: NDArray[Any], pd_: Array, groups: int = 10) -> list[dict[str, Any]]:
    """Predicted against observed bad rate by PD decile (lowest PD first)."""
    order = np.argsort(pd_, kind="stable")
    rows = []
    for decile, chosen in enumerate(np.array_split(order, groups), start=1):
        if len(chosen) == 0:
            continue
        rows.append(
            {
                "decile": decile,
                "count": len(chosen),
                "mean_pd": float(pd_[chosen].mean()),
                "bad_rate": float(target[chosen].mean()),
                "bads": int(target[chosen].sum()),
            }
        )
    return rows


def band_table(
    target: NDArray[Any], scores: NDArray[np.int64], scale: ScoreScale
) -> list[dict[str, Any]]:
    """Count, bads and bad rate per score band (best first), with cumulative shares."""
    bands = np.array([scale.band(int(s)) for s in scores])
    total, total_bad = len(target), max(int(target.sum()), 1)
    rows, cumulative, cumulative_bad = [], 0, 0
    for name, lowest in scale.bands:
        chosen = bands == name
        count, bads = int(chosen.sum()), int(target[chosen].sum())
        cumulative += count
        cumulative_bad += bads
        rows.append(
            {
                "band": name,
                "min_score": lowest,
                "count": count,
                "bads": bads,
                "bad_rate": bads / count if count else None,
                "cum_share": cumulative / total if total else None,
                "cum_bad_share": cumulative_bad / total_bad,
            }
        )
    return rows


def metrics(target: NDArray[Any], pd_: Array) -> dict[str, float]:
    area = auc(target, pd_)
    return {
        "auc": area,
        "gini": 2 * area - 1,
        "ks": ks(target, pd_),
        "brier": brier(target, pd_),
        "bad_rate": float(np.mean(target)),
        "mean_pd": float(np.mean(pd_)),
    }


def top_features(importance: Mapping[str, float], limit: int = 15) -> list[dict[str, Any]]:
    total = sum(importance.values()) or 1.0
    ranked = sorted(importance.items(), key=lambda item: -item[1])[:limit]
    return [{"feature": name, "gain": gain, "share": gain / total} for name, gain in ranked]


def render_text(report: Mapping[str, Any]) -> str:
    """A plain-text report for ops and the model risk committee."""
    lines = [
        f"credit model {report['version']}  ({report['source']})",
        f"train {report['n_train']}  valid {report['n_valid']}  test {report['n_test']}"
        f"  test bad rate {report['test_bad_rate']:.4f}",
        "",
        f"{'':14}{'AUC':>8}{'Gini':>8}{'KS':>8}{'Brier':>8}",
    ]
    predictor = report.get("predictor", "lightgbm")
    rows: list[tuple[str, Mapping[str, Any]]] = [
        ("LightGBM", report if predictor == "lightgbm" else report["lightgbm"])
    ]
    if report.get("scorecard"):
        rows.append(("scorecard", report["scorecard"]))
    if predictor == "blend":
        rows.append((f"blend {report['scorecard_weight']:g}", report))
    for label, figures in rows:
        lines.append(
            f"{label:14}{figures['auc']:8.4f}{figures['gini']:8.4f}{figures['ks']:8.4f}"
            f"{figures['brier']:8.4f}"
        )
    base = report.get("linear_base")
    if base:
        lines.append(
            f"{'linear base':14}{base['auc']:8.4f}   alone (C {base['c']}, {base['terms']} terms;"
            f" the model adds {report['best_iteration']} trees)"
        )
    if report.get("oracle_auc") is not None:
        lines.append(f"{'oracle':14}{report['oracle_auc']:8.4f}   gap {report['oracle_gap']:+.4f}")
    tuning = report.get("tuning")
    if tuning:
        lines += [
            "",
            f"tuning: {tuning['tried']} of {tuning['of']} candidates in {tuning['seconds']} s"
            f" (budget {tuning['budget_seconds']} s, seed {tuning['seed']}),"
            f" {tuning['folds']}-fold cross-validated AUC",
        ]
        lines += [
            f"  {row['name']:16}{row['cv_auc']:8.4f}  {row['rounds']:>4} rounds"
            f"{'  linear base' if row['linear_base'] else ''}"
            for row in tuning["candidates"]
        ]
        blend = tuning["blend"]
        lines += [
            f"  {'blend ' + format(row['scorecard_weight'], 'g'):16}{row['cv_auc']:8.4f}"
            f"  {blend['candidate']} with the scorecard at weight {row['scorecard_weight']:g}"
            for row in blend["weights"]
        ]
        lines.append(f"  {'WOE scorecard':16}{tuning['scorecard_cv_auc']:8.4f}")
        selection = tuning["selection"]
        lines.append(
            f"  {'selection':16}{selection['cv_auc']:8.4f}  leave-one-fold-out: each fold"
            f" scores what the rule chose on the others ({', '.join(selection['chosen'])})"
        )
        lines.append(f"winner: {tuning['winner']}: {tuning['why']}")
    lines += ["", "calibration by decile (lowest PD first)"]
    lines += [
        f"  {row['decile']:>2}  n={row['count']:<6} pd={row['mean_pd']:.4f}"
        f"  bad={row['bad_rate']:.4f}"
        for row in report["calibration"]
    ]
    lines += ["", "score bands"]
    for row in report["bands"]:
        rate = "-" if row["bad_rate"] is None else f"{row['bad_rate']:.4f}"
        lines.append(
            f"  {row['band']} >= {row['min_score']:<4} n={row['count']:<6} bad rate {rate}"
            f"  cum {row['cum_share'] or 0:.3f}  cum bads {row['cum_bad_share']:.3f}"
        )
    lines += ["", "top features of the trees (gain share)"]
    lines += [f"  {row['feature']:34} {row['share']:.3f}" for row in report["top_features"]]
    if base:
        lines += ["", "linear base: largest coefficients (per standard deviation of the term)"]
        lines += [
            f"  {row['feature']:34} {row['term']:10} {row['coefficient']:+.3f}"
            for row in base["top_terms"]
        ]
        if base["dropped_for_sign"]:
            lines.append(
                f"  dropped for a sign against the business direction: "
                f"{', '.join(base['dropped_for_sign'])}"
            )
    return "\n".join(lines) + "\n"


def render_html(report: Mapping[str, Any]) -> str:
    body = html.escape(render_text(report))
    title = html.escape(f"credit model {report['version']}")
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
        f"<body><h1>{title}</h1><pre>{body}</pre></body></html>\n"
    )


def frame_summary(columns: Sequence[str], frame: pd.DataFrame) -> dict[str, Any]:
    """Share of missing values per column (part of the training data description)."""
    return {name: float(frame[name].isna().mean()) for name in columns}
