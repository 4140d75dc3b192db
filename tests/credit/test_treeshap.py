"""TreeSHAP from leaf tables (``credit.treeshap``) against LightGBM's own ``pred_contrib``,
on every kind of split LightGBM makes: numerical splits whose missing values are NaN,
zero or none, categorical splits (unknown, negative, fractional and missing codes), a
feature split on more than once along a path, trees of one leaf; a row's values do not
depend on the rows computed with it; boosters too deep for the tables are left to
LightGBM."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from credit import treeshap
from credit.model import Calibration, CreditModel, ScoreScale

ROWS = 3000


def _data(seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Four numerical columns (one with NaNs, one with many exact zeros) and two
    categorical code columns; a target that depends on all of them."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=ROWS),
            np.where(rng.random(ROWS) < 0.2, np.nan, rng.normal(size=ROWS)),
            np.where(rng.random(ROWS) < 0.3, 0.0, rng.exponential(size=ROWS)),
            rng.integers(0, 5, ROWS).astype(np.float64),
            rng.integers(0, 12, ROWS).astype(np.float64),
            rng.integers(0, 4, ROWS).astype(np.float64),
        ]
    )
    logit = (
        x[:, 0]
        - np.nan_to_num(x[:, 1], nan=1.5)
        + 0.7 * (x[:, 2] == 0)
        + 0.3 * x[:, 3]
        + np.isin(x[:, 4], [2, 5, 7])
        - 0.8 * (x[:, 5] == 1)
    )
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def _train(seed: int, **params: Any) -> tuple[lgb.Booster, np.ndarray[Any, Any]]:
    x, y = _data(seed)
    settings = {
        "objective": "binary",
        "num_leaves": 7,
        "max_depth": 3,
        "learning_rate": 0.2,
        "min_data_in_leaf": 20,
        "cat_smooth": 1,
        "min_data_per_group": 10,
        "verbose": -1,
        "seed": seed,
        "deterministic": True,
        **params,
    }
    rounds = settings.pop("rounds", 30)
    data = lgb.Dataset(x, y, categorical_feature=[4, 5], free_raw_data=False)
    return lgb.train(settings, data, num_boost_round=rounds), x


def _probe(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The training rows and awkward ones: NaN everywhere, exact and near zeros, codes
    unknown, negative, fractional and missing."""
    awkward = np.array(
        [
            [np.nan] * 6,
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1e-40, -1e-40, 1e-36, 2.0, 99.0, -1.0],
            [-0.5, 3.0, -0.0, 4.0, -0.5, 2.9],
            [5.0, np.nan, np.nan, np.nan, np.nan, np.nan],
            [-5.0, -3.0, 10.0, 1.0, 7.0, 1.0],
        ]
    )
    return np.vstack([x, awkward])


@pytest.mark.parametrize(
    "params",
    [
        {},  # NaN is the missing value
        {"zero_as_missing": True},  # zero is
        {"use_missing": False},  # none is: NaN is read as 0
        {"max_depth": 5, "num_leaves": 12, "rounds": 15},  # features repeat along paths
        {"max_cat_to_onehot": 16},  # one-vs-rest categorical splits
    ],
    ids=["nan", "zero", "none", "repeats", "one-hot"],
)
def test_the_tables_give_lightgbms_values(params: dict[str, Any]) -> None:
    booster, x = _train(7, **params)
    compiled = treeshap.compile_booster(booster)
    assert compiled is not None
    probe = _probe(x)
    expected = booster.predict(probe, pred_contrib=True)
    got = compiled.contributions(probe)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # They add up to the raw score, as LightGBM's do.
    raw = booster.predict(probe, raw_score=True)
    np.testing.assert_allclose(got.sum(axis=1), raw, rtol=0, atol=1e-12)


def test_a_tree_of_one_leaf_is_its_expected_value() -> None:
    x, _ = _data(3)
    data = lgb.Dataset(x, np.full(ROWS, 2.5), free_raw_data=False)
    settings = {"objective": "regression", "verbose": -1, "min_data_in_leaf": 20}
    booster = lgb.train(settings, data, num_boost_round=3)
    compiled = treeshap.compile_booster(booster)
    assert compiled is not None
    expected = booster.predict(x[:50], pred_contrib=True)
    np.testing.assert_allclose(compiled.contributions(x[:50]), expected, rtol=0, atol=1e-12)


def test_a_rows_values_do_not_depend_on_the_rows_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One row alone (summed by ``np.add.at``), a few, and many in blocks (summed pair by
    pair): the same bits."""
    booster, x = _train(11)
    compiled = treeshap.compile_booster(booster)
    assert compiled is not None
    probe = _probe(x)[:500]
    monkeypatch.setattr(treeshap, "ROWS_PER_BLOCK", 97)
    together = compiled.contributions(probe)
    alone = np.vstack([compiled.contributions(probe[i : i + 1]) for i in range(len(probe))])
    assert np.array_equal(together, alone)
    few = compiled.contributions(probe[: treeshap.FEW_ROWS - 1])
    assert np.array_equal(few, together[: treeshap.FEW_ROWS - 1])


@pytest.mark.parametrize("limit", ["MAX_UNIQUE_DEPTH", "MAX_PAIRS"])
def test_boosters_too_large_are_left_to_lightgbm(
    limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster, x = _train(5, max_depth=-1, num_leaves=31, min_data_in_leaf=5, rounds=5)
    compiled = treeshap.compile_booster(booster)
    assert compiled is not None
    depth = len(compiled.leaf_pair)  # the most distinct features on a path
    monkeypatch.setattr(treeshap, limit, depth - 1 if limit == "MAX_UNIQUE_DEPTH" else 100)
    assert treeshap.compile_booster(booster) is None
    features = [f"f{i}" for i in range(x.shape[1])]
    model = CreditModel(booster, features, {}, Calibration(), ScoreScale())
    np.testing.assert_array_equal(
        model.contributions(x[:20]), booster.predict(x[:20], pred_contrib=True)
    )


def test_the_leaf_table_is_the_shapley_formula() -> None:
    """A leaf of value 2 on a path over three features: the table against the Shapley
    sum written out by subsets."""
    zeros = [0.3, 0.6, 0.5]
    table = treeshap._leaf_table(2.0, zeros)
    weight = {0: 1 / 3, 1: 1 / 6, 2: 1 / 3}  # s! (d - s - 1)! / d! for d = 3
    for pattern in range(8):
        ones = [(pattern >> k) & 1 for k in range(3)]
        for j in range(3):
            others = [k for k in range(3) if k != j]
            total = 0.0
            for mask in range(4):
                chosen = [others[b] for b in range(2) if mask >> b & 1]
                rest = [k for k in others if k not in chosen]
                term = weight[len(chosen)]
                term *= np.prod([ones[k] for k in chosen]) * np.prod([zeros[k] for k in rest])
                total += term
            assert table[pattern, j] == pytest.approx(2.0 * (ones[j] - zeros[j]) * total)


def test_linear_trees_are_not_compiled() -> None:
    """A linear tree's leaf is a function of the row: no table holds it (and LightGBM
    itself refuses its SHAP values)."""
    x, y = _data(2)
    settings = {"objective": "binary", "linear_tree": True, "num_leaves": 4, "verbose": -1}
    booster = lgb.train(settings, lgb.Dataset(x[:, :4], y), num_boost_round=3)
    assert treeshap.compile_booster(booster) is None
