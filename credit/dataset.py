"""Training sets: the platform's loan history with point-in-time features, or any
tabular file a bank brings.

Platform label: a loan is bad when it defaulted (90+ days past due) within 12 months of
disbursement. Only loans whose 12-month window has ended by ``observed_until`` are used,
so a recent loan is not counted good merely because it has not had time to go bad.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credit.features import APPLICATION_FEATURES, CATEGORICAL, FEATURES, batch_features
from credit.train import TrainingSet
from finance.core.errors import Invalid
from finance.lending.models import Loan, SyntheticLoanTruth

OUTCOME_MONTHS = 12


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (following - dt.timedelta(days=1)).day))


def outcomes_known_until(session: Session, today: dt.date) -> dt.date:
    """The default end of outcome observation: today, or the latest date the loan book
    records (a disbursement, a default, a settlement) when that is earlier. A book loaded
    up to an earlier day (a monthly file from the banks, the synthetic province) says
    nothing yet about the days after it: a loan that defaults there still looks good."""
    latest = session.execute(
        select(func.max(Loan.disbursed_on), func.max(Loan.defaulted_on), func.max(Loan.settled_on))
    ).one()
    known = [day for day in latest if day is not None]
    return min(today, max(known)) if known else today


def loan_outcomes(session: Session, observed_until: dt.date) -> pd.DataFrame:
    """Every loan whose outcome window has ended: uscc, disbursed_on, amount_fen, bad (0/1)
    and the generator's true PD where the loan is synthetic (NaN otherwise)."""
    rows = session.execute(
        select(
            Loan.id,
            Loan.uscc,
            Loan.disbursed_on,
            Loan.amount_fen,
            Loan.defaulted_on,
            SyntheticLoanTruth.true_pd,
        )
        .outerjoin(SyntheticLoanTruth, SyntheticLoanTruth.loan_id == Loan.id)
        .order_by(Loan.disbursed_on, Loan.id)
    ).all()
    records = []
    for loan_id, uscc, disbursed, amount, defaulted, true_pd in rows:
        horizon = add_months(disbursed, OUTCOME_MONTHS)
        if horizon > observed_until:
            continue
        bad = defaulted is not None and defaulted < horizon
        oracle = np.nan if true_pd is None else true_pd
        records.append((loan_id, uscc, disbursed, amount, int(bad), oracle))
    return pd.DataFrame.from_records(
        records, columns=["loan_id", "uscc", "disbursed_on", "amount_fen", "bad", "true_pd"]
    )


def platform_training_set(session: Session, observed_until: dt.date) -> TrainingSet:
    """The loans with known outcomes and their features as of disbursement (the industry
    index as ingestion keeps it: ``credit.industry``)."""
    loans = loan_outcomes(session, observed_until)
    if loans.empty:
        raise Invalid(
            f"no loans with a complete {OUTCOME_MONTHS}-month outcome by {observed_until}"
        )
    # Features as of disbursement, with the amount lent as the amount applied for.
    features = batch_features(
        session,
        loans[["uscc", "disbursed_on", "amount_fen"]].rename(columns={"disbursed_on": "as_of"}),
    )
    oracle = loans["true_pd"].to_numpy(dtype=np.float64)
    return TrainingSet(
        frame=features,
        target=loans["bad"].to_numpy(dtype=np.int64),
        categorical=list(CATEGORICAL),
        monotone={f.name: f.direction for f in FEATURES if f.direction},
        application=list(APPLICATION_FEATURES),
        time=pd.Series(pd.to_datetime(loans["disbursed_on"])),
        oracle_pd=None if np.isnan(oracle).all() else oracle,
        source="platform",
    )


def read_table(path: Path) -> pd.DataFrame:
    """A CSV file with types inferred; text columns stay strings."""
    try:
        return pd.read_csv(path, low_memory=False)
    except (OSError, ValueError) as exc:
        raise Invalid(f"cannot read {path}: {exc}") from exc


def file_training_set(
    path: Path, target: str, *, bad_value: str | None = None, time_column: str | None = None
) -> TrainingSet:
    """A training set from a bank's own file: every other column is a feature, numeric
    when its values are numbers and categorical otherwise."""
    frame = read_table(path)
    for label, column in (("target", target), ("time", time_column)):
        if column is not None and column not in frame.columns:
            raise Invalid(
                f"{path.name} has no {label} column {column!r}", columns=list(frame.columns)
            )
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    labels = labelled[target]
    if bad_value is not None:
        bad = (labels.astype(str) == str(bad_value)).astype(np.int64)
    else:
        values = set(pd.unique(labels.astype(str)))
        if not values <= {"0", "1", "0.0", "1.0", "True", "False"}:
            raise Invalid(
                f"target {target!r} is not 0/1; say which value is bad with --bad-value",
                values=sorted(values)[:10],
            )
        bad = labels.astype(str).isin({"1", "1.0", "True"}).astype(np.int64)
    features = labelled.drop(columns=[c for c in (target, time_column) if c is not None])
    categorical = categorical_columns(features)
    return TrainingSet(
        frame=features,
        target=np.asarray(bad.to_numpy(), dtype=np.int64),
        categorical=categorical,
        time=None if time_column is None else pd.Series(pd.to_datetime(labelled[time_column])),
        source=f"file:{path.name}",
        fingerprint=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    return [
        str(name)
        for name in frame.columns
        if is_bool_dtype(frame[name]) or not is_numeric_dtype(frame[name])
    ]


def score_columns(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's feature columns of a file to score; a missing column is an error."""
    absent = [name for name in features if name not in frame.columns]
    if absent:
        raise Invalid(f"the file lacks the model's columns {absent}")
    selected: Any = frame[features]
    return pd.DataFrame(selected)
