"""Reason codes: the features that pushed an enterprise's PD up the most, from the
model's SHAP values (``CreditModel.contributions``), each with a phrase in Chinese and
English and the enterprise's value. PIPL art. 24 gives the enterprise the right to this
explanation."""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from credit.features import BY_NAME

MAX_REASONS = 4


def phrase(feature: str, value: Any) -> tuple[str, str]:
    known = BY_NAME.get(feature)
    zh, en = (known.zh, known.en) if known else (f"{feature}数值不利", f"unfavourable {feature}")
    if value is None:
        return f"{zh}（无数据）", f"{en} (no data)"
    return zh, en


def display_value(value: Any) -> Any:
    """JSON-friendly value: None for missing, numbers rounded to 4 decimals."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 4)
    return value


def adverse_reasons(
    features: Sequence[str],
    contributions: NDArray[np.float64],
    columns: Sequence[Sequence[Any]],
    limit: int = MAX_REASONS,
    filled: Collection[str] = (),
) -> list[list[dict[str, Any]]]:
    """Up to ``limit`` reasons for each row: the features with the largest positive
    contribution to the log-odds of default (``contributions``: one row per scored row,
    one column per feature, without the bias term), largest first, ties in feature order.
    ``columns`` holds each feature's values. A feature in ``filled`` whose value is
    missing was scored at a typical value (an application input without an application)
    and is no reason."""
    work = np.array(contributions, dtype=np.float64, copy=True)
    for index, name in enumerate(features):
        if name in filled:
            values = np.asarray(columns[index], dtype=np.float64)
            work[np.isnan(values), index] = -np.inf
    order = np.argsort(-work, axis=1, kind="stable")[:, :limit]
    chosen = np.take_along_axis(work, order, axis=1)
    counts = (chosen > 0).sum(axis=1).tolist()
    order_rows, chosen_rows = order.tolist(), chosen.tolist()
    phrases = [_phrases(name) for name in features]
    reasons: list[list[dict[str, Any]]] = []
    for row, count in enumerate(counts):
        listed = []
        indexes, contributions_kept = order_rows[row][:count], chosen_rows[row][:count]
        for index, contribution in zip(indexes, contributions_kept, strict=True):
            value = display_value(columns[index][row])
            zh, en = phrases[index][value is None]
            listed.append(
                {
                    "feature": features[index],
                    "zh": zh,
                    "en": en,
                    "value": value,
                    "contribution": round(contribution, 4),
                }
            )
        reasons.append(listed)
    return reasons


@functools.lru_cache(maxsize=1024)
def _phrases(feature: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The phrase with a value, and without one."""
    return phrase(feature, 0), phrase(feature, None)
