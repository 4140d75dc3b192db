"""The linear base the trees start from: its terms, the business-direction signs, its
contributions, and the model built on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy.orm import Session

from credit.dataset import platform_training_set
from credit.linear import C_GRID, CATEGORY, DEFAULT_C, MISSING, STEP, VALUE, LinearBase, _terms
from credit.model import CreditModel
from credit.train import split, train
from tests.credit.builders import Province
from tests.credit.conftest import OBSERVED_UNTIL

FEATURES = ["arrears", "income", "trend", "sparse", "region", "constant", "ratio", "noise"]


def _data(rows: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Bads rise with arrears (and more so from none to any) and falling trend, fall with
    income (log-normal, long tail), rise with the log of a ratio spread over orders of
    magnitude below one; region code 2 is riskier; ``sparse`` is missing on a fifth of
    the rows; ``noise`` carries nothing."""
    rng = np.random.default_rng(seed)
    arrears = rng.poisson(0.5, rows).astype(np.float64)
    income = rng.lognormal(10, 1.5, rows)
    trend = rng.uniform(-1, 1, rows)
    sparse = np.where(rng.random(rows) < 0.2, np.nan, rng.normal(0, 1, rows))
    region = rng.choice([0.0, 1.0, 2.0, 3.0], rows, p=[0.45, 0.45, 0.097, 0.003])
    ratio = np.exp(rng.uniform(-5, 1, rows))
    noise = rng.normal(0, 1, rows)
    logit = (
        1.0
        + 0.8 * arrears
        + 1.0 * (arrears > 0)
        - 0.5 * np.log1p(income) / 1.5
        - 1.0 * trend
        + (region == 2)
        + 0.5 * np.log(ratio)
    )
    target = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    x = np.column_stack([arrears, income, trend, sparse, region, np.full(rows, 3.0), ratio, noise])
    return x, target


def _fit(monotone: dict[str, int]) -> tuple[LinearBase, dict[str, object]]:
    x, target = _data()
    return LinearBase.fit(
        x, target, FEATURES, {"region": ["north", "south", "east", "west"]}, monotone, seed=0
    )


def test_terms_follow_the_data() -> None:
    x, _ = _data()
    terms = _terms(x, FEATURES, ["region"])
    kinds = {(t.feature, t.kind, None if math.isnan(t.code) else t.code) for t in terms}
    assert ("income", VALUE, None) in kinds
    assert ("sparse", MISSING, None) in kinds  # a fifth missing: a flag
    assert ("trend", MISSING, None) not in kinds
    assert {("region", CATEGORY, c) for c in (0.0, 1.0, 2.0)} <= kinds
    assert ("region", CATEGORY, 3.0) not in kinds  # a dozen rows: too rare for a flag
    assert all(t.feature != "constant" for t in terms)
    # A count of few levels gets a step above each level with enough rows on both sides.
    steps = sorted(t.code for t in terms if t.feature == "arrears" and t.kind == STEP)
    assert steps[:2] == [0.0, 1.0]
    assert all(int((x[:, 0] > step).sum()) >= 30 for step in steps)
    # Continuous values: no steps; many levels from zero would get the step at zero only.
    assert not any(t.kind == STEP and t.feature in ("income", "trend", "ratio") for t in terms)
    by_name = {(t.feature, t.kind): t for t in terms}
    assert by_name[("income", VALUE)].log  # non-negative with a long tail
    assert by_name[("income", VALUE)].offset == 1.0  # ln(1 + yuan)
    assert by_name[("arrears", VALUE)].log  # a count: ln(1 + n)
    assert by_name[("arrears", VALUE)].offset == 1.0
    assert not by_name[("trend", VALUE)].log
    # A ratio mostly below one is logged with a small offset (the 1st percentile of its
    # positive values), not ln(1 + x), which would flatten it where most values are.
    ratio = by_name[("ratio", VALUE)]
    assert ratio.log
    assert ratio.offset == pytest.approx(np.quantile(x[:, 6], 0.01))


def test_the_lasso_keeps_the_terms_that_carry_risk() -> None:
    base, summary = _fit({})
    fitted = {(t.feature, t.kind, None if math.isnan(t.code) else t.code): t for t in base.terms}
    assert all(t.coefficient != 0 for t in base.terms)  # the zeros are left out
    assert summary["terms"] == len(base.terms) < summary["candidate_terms"]
    assert fitted[("arrears", VALUE, None)].coefficient > 0
    assert fitted[("arrears", STEP, 0.0)].coefficient > 0  # none to any
    assert fitted[("income", VALUE, None)].coefficient < 0
    assert fitted[("ratio", VALUE, None)].coefficient > 0
    assert fitted[("region", CATEGORY, 2.0)].coefficient > 0
    assert summary["c"] in C_GRID
    assert summary["dropped_for_sign"] == []
    labels = {(t["feature"], t["term"]) for t in summary["top_terms"]}  # type: ignore[attr-defined]
    assert {("arrears", "value"), ("arrears", "> 0"), ("region", "= east")} <= labels
    # A refit with the penalty chosen before skips the cross-validation.
    x, target = _data(rows=2000, seed=5)
    again, refit = LinearBase.fit(
        x, target, FEATURES, {"region": list("abcd")}, {}, seed=0, penalty=summary["c"]
    )
    assert refit["c"] == summary["c"]
    assert refit["cv_auc"] is None
    assert again.terms != base.terms


def test_business_direction_keeps_its_sign() -> None:
    """A direction the data contradict (income +1: more income, more risk) drops the
    term instead of giving it the other sign."""
    base, summary = _fit({"income": 1, "arrears": 1, "trend": -1})
    assert summary["dropped_for_sign"] == ["income"]
    assert all(not (t.feature == "income" and t.kind == VALUE) for t in base.terms)
    for term in base.terms:
        if term.feature == "arrears" and term.kind == VALUE:
            assert term.coefficient > 0
        if term.feature == "trend" and term.kind == VALUE:
            assert term.coefficient < 0


def test_contributions_add_up_and_round_trip() -> None:
    base, _ = _fit({})
    x, _ = _data(rows=300, seed=2)
    x[0, :] = np.nan  # a row with nothing known
    x[1, 4] = 7.0  # a region never seen in training
    contributions = base.contributions(x)
    assert contributions.shape == (300, len(FEATURES) + 1)
    assert np.allclose(contributions.sum(axis=1), base.log_odds(x), rtol=0, atol=1e-12)
    assert np.all(contributions[:, FEATURES.index("constant")] == 0)
    assert np.isfinite(base.log_odds(x)).all()
    again = LinearBase.from_dict(base.to_dict())
    assert np.array_equal(again.log_odds(x), base.log_odds(x))
    # A base stored before log offsets existed reads its logged terms as ln(1 + x).
    stored = base.to_dict()
    for term in stored["terms"]:
        term.pop("offset")
    older = LinearBase.from_dict(stored)
    assert all(t.offset == 1.0 for t in older.terms)
    income = next(t for t in older.terms if t.feature == "income" and t.kind == VALUE)
    column = older.terms.index(income)
    expected = (np.log1p(x[2:, 1]) - income.center) / income.scale
    assert np.allclose(older.design(x[2:])[:, column], expected, rtol=0, atol=1e-12)
    # Standardised on the training rows: each feature contributes nothing on average there.
    train_x, _ = _data()
    assert np.allclose(base.contributions(train_x)[:, :-1].mean(axis=0), 0, atol=1e-9)


def test_model_starts_its_trees_from_the_base(session: Session, province: Province) -> None:
    data = platform_training_set(session, OBSERVED_UNTIL)
    result = train(data, seed=3)
    model: CreditModel = result.model
    assert model.linear is not None
    assert result.report["linear_base"]["terms"] == len(model.linear.terms)
    _, _, test_rows = split(data, 3)
    x = model.matrix(data.frame.iloc[test_rows])
    trees = np.asarray(model.booster.predict(x, raw_score=True))
    assert np.allclose(model.raw(x), trees + model.linear.log_odds(x), rtol=0, atol=1e-12)
    contributions = model.contributions(x)
    assert np.allclose(contributions.sum(axis=1), model.raw(x), rtol=0, atol=1e-9)
    assert np.array_equal(model.predict_pd(x), result.test["pd"].to_numpy())
    # The base alone is reported, and is what the trees improve on in validation.
    assert 0.5 < result.report["linear_base"]["auc"] <= 1
    # Refitted on training and validation rows with the penalty, the number of trees and
    # the calibration chosen on the training rows alone.
    report = result.report
    assert report["refit"]
    assert report["n_fitted"] == report["n_train"] + report["n_valid"]
    assert model.booster.num_trees() == report["best_iteration"]
    assert report["linear_base"]["cv_auc"] is not None
    once = train(data, seed=3, refit=False)
    assert not once.report["refit"]
    assert once.report["n_fitted"] == once.report["n_train"]
    assert once.model.calibration == model.calibration
    assert once.report["linear_base"]["c"] == report["linear_base"]["c"]

    plain = train(data, seed=3, linear_base=False)
    assert plain.model.linear is None
    assert plain.report["linear_base"] is None
    x_plain = plain.model.matrix(data.frame.iloc[test_rows])
    assert np.array_equal(
        plain.model.raw(x_plain), np.asarray(plain.model.booster.predict(x_plain, raw_score=True))
    )


def test_no_rows_to_cross_validate_uses_the_default_penalty() -> None:
    x, target = _data(rows=200)
    target[:] = 0
    target[:1] = 1  # one bad: no two folds with a bad each
    _, summary = LinearBase.fit(x, target, FEATURES, {"region": list("abcd")}, {}, seed=0)
    assert summary["c"] == pytest.approx(DEFAULT_C)
    assert summary["cv_auc"] is None
