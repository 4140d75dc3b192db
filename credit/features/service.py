"""The two ways to features, one computation: ``batch_features`` for many (enterprise,
as-of date) requests and ``enterprise_features`` for one (the online path). Both read
the rows with ``credit.features.read`` and compute with ``credit.features.compute``; for
one enterprise that is the batch computation on its rows."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select
from sqlalchemy.orm import Session

from credit.features.catalogue import CATEGORICAL, FEATURE_NAMES
from credit.features.compute import compute
from credit.features.inputs import day_number
from credit.features.read import Requests, read_also

FeatureColumns = dict[str, Any]  # feature -> float64 array, or list of str | None


def feature_columns(
    session: Session, requests: Requests, *, uscc_range: tuple[str, str] | None = None
) -> FeatureColumns:
    """Every feature of every request, as columns in ``FEATURE_NAMES`` order."""
    return feature_columns_also(session, requests, uscc_range=uscc_range)[0]


def feature_columns_also(
    session: Session,
    requests: Requests,
    *,
    uscc_range: tuple[str, str] | None = None,
    also: Select[Any] | None = None,
) -> tuple[FeatureColumns, Any]:
    """``feature_columns``, and the value of ``also`` (see ``read_also``): for one
    enterprise read in the same round trip as its rows."""
    inputs, extra = read_also(session, requests, uscc_range=uscc_range, also=also)
    computed = compute(inputs)
    return {name: computed[name] for name in FEATURE_NAMES}, extra


def batch_features(
    session: Session, requests: pd.DataFrame, *, uscc_range: tuple[str, str] | None = None
) -> pd.DataFrame:
    """Features for many (enterprise, as-of date) pairs at once.

    ``requests`` has columns ``uscc`` and ``as_of`` (dates) and optionally ``amount_fen``
    (the amount applied for; missing or NaN: no application); the result has one row per
    request, in the same order and with the same index, and one column per feature. When
    the requests cover every enterprise of a USCC range (a rescore chunk), ``uscc_range``
    reads the tables by that range instead of by lists of USCCs.
    """
    if len(requests) == 0:
        return pd.DataFrame(columns=list(FEATURE_NAMES), index=requests.index)
    columns = feature_columns(session, requests_of(requests), uscc_range=uscc_range)
    return feature_frame(columns, requests.index)


def requests_of(frame: pd.DataFrame) -> Requests:
    days = pd.to_datetime(frame["as_of"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    amounts = (
        frame["amount_fen"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "amount_fen" in frame
        else np.full(len(frame), np.nan)
    )
    return Requests(usccs=frame["uscc"].astype(str).tolist(), as_of_day=days, amount_fen=amounts)


def feature_frame(columns: FeatureColumns, index: pd.Index[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(
                values, index=index, dtype=object if name in CATEGORICAL else np.float64
            )
            for name, values in columns.items()
        },
        index=index,
    )


def enterprise_features(
    session: Session, uscc: str, as_of: dt.date, amount_fen: int | None = None
) -> dict[str, Any]:
    """The feature values of one enterprise as of ``as_of``, applying for ``amount_fen``
    (None: no application): numbers (NaN when unknown) and, for categorical features,
    strings (None when unknown)."""
    return row_values(feature_columns(session, one_request(uscc, as_of, amount_fen)))


def one_request(uscc: str, as_of: dt.date, amount_fen: int | None = None) -> Requests:
    return Requests(
        usccs=[uscc],
        as_of_day=np.array([day_number(as_of)], dtype=np.int64),
        amount_fen=np.array([math.nan if amount_fen is None else float(amount_fen)]),
    )


def row_values(columns: FeatureColumns, row: int = 0) -> dict[str, Any]:
    """One request's values: Python floats and str | None."""
    return {
        name: values[row] if name in CATEGORICAL else float(values[row])
        for name, values in columns.items()
    }
