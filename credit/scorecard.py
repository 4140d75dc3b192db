"""The challenger: a WOE-binned logistic-regression scorecard, the model banks and
regulators know.

Numeric features are cut at training quantiles and adjacent bins are merged until the
bad rate is monotone (in the direction of the first-to-last trend) and every bin holds
at least ``min_share`` of the rows; categorical features keep a bin per frequent
category and pool the rare ones. Missing values always get their own bin. WOE is
``ln(share of goods / share of bads)`` (higher is safer); features with information value
below ``min_iv`` are dropped before the logistic regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

Array = NDArray[np.float64]

MISSING = "missing"
OTHER = "other"


@dataclass
class Binning:
    """One feature's bins: numeric edges (right-closed intervals) or category groups, with
    the WOE of each bin and of the missing bin."""

    feature: str
    categorical: bool
    edges: list[float] = field(default_factory=list)
    woe: list[float] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)  # category -> bin (categorical)
    missing_woe: float = 0.0
    iv: float = 0.0
    labels: list[str] = field(default_factory=list)

    def transform(self, values: pd.Series[Any]) -> Array:
        missing = values.isna().to_numpy()
        out = np.full(len(values), self.missing_woe)
        if self.categorical:
            bins = np.array([self.groups.get(str(v), self.groups.get(OTHER, -1)) for v in values])
        else:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
            bins = np.searchsorted(np.asarray(self.edges), numbers, side="left")
        woe = np.asarray([*self.woe, 0.0])
        chosen = woe[np.where(bins < 0, len(self.woe), bins)]
        out[~missing] = chosen[~missing]
        return out


def _woe(goods: Array, bads: Array, total_good: float, total_bad: float) -> Array:
    result: Array = np.log(
        ((goods + 0.5) / (total_good + 0.5)) / ((bads + 0.5) / (total_bad + 0.5))
    )
    return result


def _numeric_bins(
    values: Array, target: NDArray[np.int64], max_bins: int, min_count: int
) -> tuple[list[float], list[int], list[int]]:
    """Edges (upper bounds, last is +inf) and counts after monotone merging."""
    quantiles = np.unique(np.quantile(values, np.linspace(0, 1, max_bins + 1)[1:-1]))
    edges = [*quantiles.tolist(), math.inf]
    bins = np.searchsorted(np.asarray(edges), values, side="left")
    totals = np.bincount(bins, minlength=len(edges)).tolist()
    bads = np.bincount(bins, weights=target, minlength=len(edges)).astype(int).tolist()

    def merge(i: int) -> None:  # bin i absorbs bin i + 1
        totals[i] += totals.pop(i + 1)
        bads[i] += bads.pop(i + 1)
        edges.pop(i)

    i = 0
    while i < len(edges) - 1:  # drop empty and small bins first
        if totals[i] < min_count:
            merge(i)
        else:
            i += 1
    if len(edges) > 1 and totals[-1] < min_count:
        merge(len(edges) - 2)
    rates = [b / t for b, t in zip(bads, totals, strict=True)]
    increasing = rates[-1] >= rates[0]
    changed = True
    while changed and len(edges) > 1:
        changed = False
        for i in range(len(edges) - 1):
            r0, r1 = bads[i] / totals[i], bads[i + 1] / totals[i + 1]
            if (increasing and r1 < r0) or (not increasing and r1 > r0):
                merge(i)
                changed = True
                break
    return edges, totals, bads


@dataclass
class Scorecard:
    binnings: list[Binning]
    coefficients: list[float]
    intercept: float

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        target: NDArray[np.int64],
        categorical: Sequence[str],
        *,
        max_bins: int = 10,
        min_share: float = 0.05,
        min_iv: float = 0.02,
        seed: int = 0,
    ) -> Scorecard:
        target = np.asarray(target, dtype=np.int64)
        total_bad = float(target.sum())
        total_good = float(len(target) - total_bad)
        min_count = max(1, int(min_share * len(target)))
        binnings: list[Binning] = []
        for name in frame.columns:
            column = frame[name]
            missing = column.isna().to_numpy()
            present_target = target[~missing]
            binning = Binning(feature=name, categorical=name in categorical)
            if binning.categorical:
                values = column[~missing].astype(str).to_numpy()
                counts = pd.Series(values).value_counts()
                frequent = [str(c) for c in counts.index if counts[c] >= min_count]
                binning.groups = {c: i for i, c in enumerate(sorted(frequent))}
                if len(frequent) < len(counts):
                    binning.groups[OTHER] = len(frequent)
                bins = np.array(
                    [binning.groups.get(v, binning.groups.get(OTHER, 0)) for v in values]
                )
                size = len(set(binning.groups.values()))
                goods_bads = [
                    (
                        float(((bins == b) & (present_target == 0)).sum()),
                        float(((bins == b) & (present_target == 1)).sum()),
                    )
                    for b in range(size)
                ]
                binning.labels = [
                    ",".join(c for c, g in binning.groups.items() if g == b) for b in range(size)
                ]
            else:
                numbers = pd.to_numeric(column[~missing], errors="coerce").to_numpy(np.float64)
                if len(numbers) == 0:
                    continue
                edges, totals, bads = _numeric_bins(numbers, present_target, max_bins, min_count)
                binning.edges = edges
                goods_bads = [(float(t - b), float(b)) for t, b in zip(totals, bads, strict=True)]
                lower = [-math.inf, *edges[:-1]]
                binning.labels = [f"({lo:g}, {hi:g}]" for lo, hi in zip(lower, edges, strict=True)]
            goods = np.array([g for g, _ in goods_bads])
            bads_arr = np.array([b for _, b in goods_bads])
            woe = _woe(goods, bads_arr, total_good, total_bad)
            binning.woe = woe.tolist()
            iv_parts = [(goods / total_good - bads_arr / total_bad) * woe]
            if missing.any():
                miss_bad = float(target[missing].sum())
                miss_good = float(missing.sum() - miss_bad)
                miss_woe = _woe(np.array([miss_good]), np.array([miss_bad]), total_good, total_bad)
                binning.missing_woe = float(miss_woe[0])
                iv_parts.append((miss_good / total_good - miss_bad / total_bad) * miss_woe)
            binning.iv = float(sum(part.sum() for part in iv_parts))
            if binning.iv >= min_iv and len(binning.woe) + missing.any() > 1:
                binnings.append(binning)
        woe_matrix = np.column_stack([b.transform(frame[b.feature]) for b in binnings])
        regression = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
        regression.fit(woe_matrix, target)
        return cls(
            binnings=binnings,
            coefficients=[float(c) for c in regression.coef_[0]],
            intercept=float(regression.intercept_[0]),
        )

    def log_odds(self, frame: pd.DataFrame) -> Array:
        logit = np.full(len(frame), self.intercept)
        for binning, coefficient in zip(self.binnings, self.coefficients, strict=True):
            logit = logit + coefficient * binning.transform(frame[binning.feature])
        return logit

    def predict_pd(self, frame: pd.DataFrame) -> Array:
        result: Array = 1.0 / (1.0 + np.exp(-self.log_odds(frame)))
        return result

    def contributions(self, frame: pd.DataFrame, features: Sequence[str]) -> Array:
        """Per row, each of ``features``' share of the log-odds (coefficient times WOE; zero
        for a feature the scorecard does not use), the intercept last: they add up to the
        log-odds, and a bin as risky as the whole population contributes nothing."""
        out = np.zeros((len(frame), len(features) + 1))
        out[:, -1] = self.intercept
        position = {name: i for i, name in enumerate(features)}
        for binning, coefficient in zip(self.binnings, self.coefficients, strict=True):
            out[:, position[binning.feature]] = coefficient * binning.transform(
                frame[binning.feature]
            )
        return out

    def table(self, factor: float) -> list[dict[str, Any]]:
        """Points per bin: a bin adds ``-factor * coefficient * woe`` to the base points."""
        rows: list[dict[str, Any]] = []
        for binning, coefficient in zip(self.binnings, self.coefficients, strict=True):
            for label, woe in [
                *zip(binning.labels, binning.woe, strict=True),
                (MISSING, binning.missing_woe),
            ]:
                rows.append(
                    {
                        "feature": binning.feature,
                        "bin": label,
                        "woe": round(woe, 4),
                        "points": round(-factor * coefficient * woe, 1),
                        "iv": round(binning.iv, 4),
                    }
                )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "coefficients": self.coefficients,
            "binnings": [
                {
                    "feature": b.feature,
                    "categorical": b.categorical,
                    "edges": [e if math.isfinite(e) else None for e in b.edges],
                    "woe": b.woe,
                    "groups": b.groups,
                    "missing_woe": b.missing_woe,
                    "iv": b.iv,
                    "labels": b.labels,
                }
                for b in self.binnings
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        binnings = [
            Binning(
                feature=b["feature"],
                categorical=b["categorical"],
                edges=[math.inf if e is None else float(e) for e in b["edges"]],
                woe=list(b["woe"]),
                groups=dict(b["groups"]),
                missing_woe=float(b["missing_woe"]),
                iv=float(b["iv"]),
                labels=list(b["labels"]),
            )
            for b in data["binnings"]
        ]
        return cls(binnings, list(data["coefficients"]), float(data["intercept"]))
