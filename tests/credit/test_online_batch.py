"""Online and batch scoring tell every enterprise the same thing: features, PD, score
and reasons, on a whole test province plus the awkward edges of the feature tests, with
and without an amount applied for, and through the stored batch rescore."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credit import industry
from credit.dataset import platform_training_set
from credit.features import CATEGORICAL, FEATURE_NAMES, batch_features, enterprise_features
from credit.models import CreditScore
from credit.registry import load_model, promote, register
from credit.scoring import chunk_bounds, explain, rescore_chunk, score_enterprise
from credit.train import train
from finance.core.errors import NotFound
from finance.core.settings import Settings
from tests.credit.builders import (
    AWKWARD_DATES,
    DataBuilder,
    Province,
    awkward_enterprises,
    uscc_for,
)
from tests.credit.conftest import OBSERVED_UNTIL

UNKNOWN = uscc_for(99_999)  # in no table


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    return bool(left == right)


def test_online_and_batch_agree_on_every_enterprise(
    settings: Settings, session: Session, province: Province
) -> None:
    builder = DataBuilder(session)
    awkward = awkward_enterprises(builder, number=90_000)
    builder.flush()
    industry.refresh(session.connection())
    result = train(platform_training_set(session, OBSERVED_UNTIL), seed=1)
    data_dir = Path(settings.resolved_data_dir)
    row = register(session, result, data_dir, created_by="tests")
    promote(session, row.version, by="tests")
    session.commit()
    model = load_model(session, data_dir)

    usccs = [*province.usccs, *awkward, UNKNOWN]
    dates = [dt.date(2024, 7, 9), AWKWARD_DATES[1], AWKWARD_DATES[2], dt.date(2025, 2, 1)]
    requests = pd.DataFrame(
        {"uscc": [u for u in usccs for _ in dates], "as_of": [d for _ in usccs for d in dates]}
    )
    # Every other request applies for an amount (tiny, huge, typical); the rest are profiles.
    amounts = [(None, 3, None, 10**12, None, 37_000_000)[i % 6] for i in range(len(requests))]
    requests["amount_fen"] = amounts
    batch = batch_features(session, requests)
    pds, reasons = explain(model, batch)
    assert batch["tax_paid_12m_yuan"].notna().sum() > len(batch) / 2
    assert any(reasons), "some enterprise has a reason"
    for position, request in enumerate(requests.itertuples()):
        amount = amounts[position]
        online = enterprise_features(session, request.uscc, request.as_of, amount)
        offline = batch.iloc[position]
        for name in FEATURE_NAMES:
            assert _same(online[name], offline[name]), (request, name)
        if request.uscc == UNKNOWN:
            with pytest.raises(NotFound):
                score_enterprise(session, request.uscc, request.as_of, data_dir=data_dir)
            continue
        scored = score_enterprise(
            session, request.uscc, request.as_of, data_dir=data_dir, amount_fen=amount
        )
        assert scored.pd == pds[position], request
        assert scored.reasons == reasons[position], request
    assert set(CATEGORICAL) <= set(batch.columns)

    # The stored batch rescore (chunks by USCC range) gives the online score exactly.
    as_of = dates[-1]
    for first, last in chunk_bounds(session, 150):
        rescore_chunk(session, model, as_of, first, last)
    session.commit()
    stored = {s.uscc: s for s in session.scalars(select(CreditScore))}
    assert set(stored) == set(usccs) - {UNKNOWN}
    for uscc in stored:
        online_score = score_enterprise(session, uscc, as_of, data_dir=data_dir)
        assert stored[uscc].pd == online_score.pd
        assert stored[uscc].score == online_score.score
        assert stored[uscc].band == online_score.band
        assert stored[uscc].reasons == online_score.reasons
    assert np.isfinite(pds).all()
    assert session.scalar(select(func.count()).select_from(CreditScore)) == len(stored)


def test_an_online_score_uses_the_live_model_read_with_its_rows(
    settings: Settings, session: Session, province: Province
) -> None:
    """The live version is read inside the features' statement: none live is refused,
    and a promotion is used by the very next score."""
    data_dir = Path(settings.resolved_data_dir)
    uscc, as_of = province.usccs[0], dt.date(2025, 2, 1)
    with pytest.raises(NotFound, match="no active credit model"):
        score_enterprise(session, uscc, as_of, data_dir=data_dir)
    training = platform_training_set(session, OBSERVED_UNTIL)
    first = register(session, train(training, seed=1), data_dir, created_by="tests")
    promote(session, first.version, by="tests")
    session.commit()
    assert score_enterprise(session, uscc, as_of, data_dir=data_dir).model_version == (
        first.version
    )
    second = register(session, train(training, seed=2), data_dir, created_by="tests")
    assert second.version != first.version
    promote(session, second.version, by="tests")
    session.commit()
    assert score_enterprise(session, uscc, as_of, data_dir=data_dir).model_version == (
        second.version
    )


def test_a_blended_model_scores_online_and_in_batch_alike(
    settings: Settings, session: Session, province: Province
) -> None:
    """A model that blends the trees with the scorecard, registered and live, gives the
    same PD and reasons online, in batch and in the stored rescore, and its reasons come
    from contributions that add up to its log-odds."""
    industry.refresh(session.connection())
    result = train(platform_training_set(session, OBSERVED_UNTIL), seed=1, scorecard_weight=0.5)
    data_dir = Path(settings.resolved_data_dir)
    row = register(session, result, data_dir, created_by="tests")
    promote(session, row.version, by="tests")
    session.commit()
    model = load_model(session, data_dir)
    assert model.predictor == "blend"
    assert model.scorecard_weight == 0.5

    as_of = dt.date(2025, 2, 1)
    usccs = province.usccs[:40]
    requests = pd.DataFrame({"uscc": usccs, "as_of": [as_of] * len(usccs)})
    batch = batch_features(session, requests)
    x = model.matrix(batch)
    contributions = model.contributions(x)
    assert np.allclose(contributions.sum(axis=1), model.raw(x), atol=1e-12)
    assert not np.allclose(model.raw(x), result.model.booster.predict(x, raw_score=True))
    pds, reasons = explain(model, batch)
    assert np.allclose(pds, model.predict_pd(x), atol=1e-12)
    assert any(reasons)
    for position, uscc in enumerate(usccs):
        scored = score_enterprise(session, uscc, as_of, data_dir=data_dir)
        assert scored.pd == pds[position]
        assert scored.reasons == reasons[position]
    first, last = min(usccs), max(usccs)
    rescore_chunk(session, model, as_of, first, last)
    session.commit()
    stored = {s.uscc: s for s in session.scalars(select(CreditScore))}
    for uscc in usccs:
        online = score_enterprise(session, uscc, as_of, data_dir=data_dir)
        assert stored[uscc].pd == online.pd
        assert stored[uscc].reasons == online.reasons
