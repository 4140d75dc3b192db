"""Reason codes: the features that pushed an enterprise's PD up the most, from
LightGBM's SHAP values (``pred_contrib``), each with a phrase in Chinese and English and
the enterprise's value. PIPL art. 24 gives the enterprise the right to this explanation."""

from __future__ import annotations

import math
from collections.abc import Collection
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
    features: list[str],
    contributions: NDArray[np.float64],
    values: list[Any],
    limit: int = MAX_REASONS,
    filled: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Up to ``limit`` reasons for one row: the features with the largest positive
    contribution to the log-odds of default (``contributions`` without the bias term).
    A feature in ``filled`` whose value is missing was scored at a typical value (an
    application input without an application) and is no reason."""
    reasons: list[dict[str, Any]] = []
    for index in np.argsort(-contributions, kind="stable"):
        contribution = float(contributions[index])
        if contribution <= 0 or len(reasons) == limit:
            break
        value = display_value(values[index])
        if value is None and features[index] in filled:
            continue
        zh, en = phrase(features[index], value)
        reasons.append(
            {
                "feature": features[index],
                "zh": zh,
                "en": en,
                "value": value,
                "contribution": round(contribution, 4),
            }
        )
    return reasons
