"""Training: LightGBM with an out-of-time split, monotone constraints for business facts,
native categoricals, no class re-weighting, Platt calibration to PD, and the WOE
scorecard challenger trained on the same rows. By default the trees start from a linear
base (``credit.linear``, fitted on the training rows) and early stopping watches the
validation log loss; without it (``linear_base=False``) the trees start from the average
and early stopping watches the validation AUC.

Rows are ordered by time when a time column exists (the platform's loans always have
one): the oldest 60% train, the next 20% validate (early stopping and calibration), the
newest 20% test. With the linear base, the model is then fitted again on the training and
validation rows with the penalty, the number of trees and the calibration chosen before
(``refit``). Without a time column the split is a seeded random permutation.
Training is deterministic for a seed: LightGBM runs with ``deterministic`` and a fixed
thread count.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from credit import evaluate
from credit.linear import LinearBase
from credit.model import Calibration, CreditModel, ScoreScale, category_mapping, encode
from credit.scorecard import Scorecard

TRAIN_SHARE, VALID_SHARE = 0.6, 0.2
TRAIN_THREADS = 2


@dataclass
class TrainingSet:
    """Feature frame, binary target (1 = bad), optional time and oracle PD per row.
    ``application`` names the inputs that describe the application (missing when scoring
    without one)."""

    frame: pd.DataFrame
    target: NDArray[np.int64]
    categorical: list[str]
    monotone: dict[str, int] = field(default_factory=dict)
    application: list[str] = field(default_factory=list)
    time: pd.Series[Any] | None = None
    oracle_pd: NDArray[np.float64] | None = None
    source: str = "file"
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            hashed = pd.util.hash_pandas_object(self.frame, index=False).to_numpy()
            digest = hashlib.sha256(hashed.tobytes())
            digest.update(np.asarray(self.target, dtype=np.int64).tobytes())
            self.fingerprint = digest.hexdigest()


@dataclass
class TrainResult:
    model: CreditModel
    scorecard: Scorecard
    report: dict[str, Any]
    test: pd.DataFrame  # test rows: target, pd, score, scorecard_pd (and oracle_pd, time)


def split(data: TrainingSet, seed: int) -> tuple[NDArray[np.int64], ...]:
    n = len(data.frame)
    if data.time is not None:
        order = np.argsort(pd.to_datetime(data.time).to_numpy(), kind="stable")
    else:
        order = np.random.default_rng(seed).permutation(n)
    first, second = int(n * TRAIN_SHARE), int(n * (TRAIN_SHARE + VALID_SHARE))
    return order[:first], order[first:second], order[second:]


def default_params(n_train: int, bad_rate: float, seed: int) -> dict[str, Any]:
    """Small, strongly regularised trees: a credit data set has few bads (tens to a few
    hundred), so capacity goes to stable splits, not interactions. A leaf must expect at
    least three bads."""
    leaf = int(max(20, min(200, 3 / max(bad_rate, 1e-3), n_train // 20)))
    return {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": 0.02,
        "num_leaves": 7 if n_train < 20_000 else 15,
        "max_depth": 3 if n_train < 20_000 else 4,
        "min_data_in_leaf": leaf,
        "min_data_per_group": leaf,
        "cat_smooth": 20.0,
        "max_cat_to_onehot": 4,
        "feature_fraction": 0.6,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": TRAIN_THREADS,
        "verbosity": -1,
    }


def train(
    data: TrainingSet,
    *,
    seed: int = 42,
    scale: ScoreScale | None = None,
    params: Mapping[str, Any] | None = None,
    rounds: int = 3000,
    early_stopping: int = 200,
    linear_base: bool = True,
    refit: bool = True,
    scorecard_weight: float = 0.0,
) -> TrainResult:
    """Train, calibrate and evaluate a model and its scorecard challenger. A
    ``scorecard_weight`` above 0 (what the tuning chose, ``credit.tuning``) makes the
    scorecard part of the model: at 1 the model's PD, score and reasons come from the
    scorecard alone; between 0 and 1 from the blend, ``(1 - w)`` times the trees' log-odds
    plus ``w`` times the scorecard's. The booster alone is reported as ``lightgbm``."""
    if not 0.0 <= scorecard_weight <= 1.0:
        raise ValueError(f"scorecard_weight must be in [0, 1], not {scorecard_weight}")
    scale = scale or ScoreScale()
    target = np.asarray(data.target, dtype=np.int64)
    if len(np.unique(target)) != 2:
        raise ValueError("the target needs both good and bad rows")
    train_rows, valid_rows, test_rows = split(data, seed)
    for label, rows in (("train", train_rows), ("validation", valid_rows), ("test", test_rows)):
        if len(np.unique(target[rows])) != 2:
            raise ValueError(f"the {label} split needs both good and bad rows; more data needed")
    features = list(data.frame.columns)
    categories = category_mapping(data.frame.iloc[train_rows], data.categorical)
    x = encode(data.frame, features, categories)
    base, base_summary = None, None
    offset = np.zeros(len(x))
    if linear_base:
        base, base_summary = LinearBase.fit(
            x[train_rows], target[train_rows], features, categories, data.monotone, seed
        )
        offset = base.log_odds(x)
    settings = {
        **default_params(len(train_rows), float(target[train_rows].mean()), seed),
        # From a linear start the ranking is largely set; whether the trees still improve
        # the probabilities shows in the log loss, while AUC on a hundred-odd validation
        # bads is flat and noisy.
        **({"metric": "binary_logloss"} if base is not None else {}),
        **(params or {}),
    }
    settings["monotone_constraints"] = [int(data.monotone.get(name, 0)) for name in features]
    settings["monotone_constraints_method"] = "advanced"
    categorical_index = [features.index(name) for name in data.categorical]
    train_set = lgb.Dataset(
        x[train_rows],
        label=target[train_rows],
        init_score=None if base is None else offset[train_rows],
        feature_name=features,
        categorical_feature=categorical_index,
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(
        x[valid_rows],
        label=target[valid_rows],
        init_score=None if base is None else offset[valid_rows],
        reference=train_set,
    )
    booster = lgb.train(
        settings,
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(early_stopping, first_metric_only=True, verbose=False)],
    )
    booster.free_dataset()
    best_iteration = max(int(booster.best_iteration), 1)
    fitted_rows = train_rows
    raw_valid = offset[valid_rows] + np.asarray(
        booster.predict(x[valid_rows], raw_score=True, num_iteration=best_iteration)
    )
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(
        raw_valid.reshape(-1, 1), target[valid_rows]
    )
    blend_platt = None
    if 0.0 < scorecard_weight < 1.0:
        # The blend is calibrated as the trees are: on the validation rows, by models that
        # did not learn from them (a scorecard fitted on the training rows only).
        early_card = Scorecard.fit(
            data.frame.iloc[train_rows].reset_index(drop=True),
            target[train_rows],
            data.categorical,
            seed=seed,
        )
        blend_valid = (1.0 - scorecard_weight) * raw_valid + scorecard_weight * (
            early_card.log_odds(data.frame.iloc[valid_rows].reset_index(drop=True))
        )
        blend_platt = LogisticRegression(C=1e6, max_iter=1000).fit(
            blend_valid.reshape(-1, 1), target[valid_rows]
        )
    if base is not None and refit:
        # With the penalty (cross-validated on the training rows), the number of trees
        # and the calibration (both from the validation rows) chosen, the base and the
        # trees are fitted again on training and validation rows together: a third more
        # bads. The calibration is kept.
        fitted_rows = np.concatenate([train_rows, valid_rows])
        chosen = base_summary or {}
        base, base_summary = LinearBase.fit(
            x[fitted_rows],
            target[fitted_rows],
            features,
            categories,
            data.monotone,
            seed,
            penalty=float(chosen["c"]),
        )
        base_summary["cv_auc"] = chosen["cv_auc"]
        offset = base.log_odds(x)
        development_set = lgb.Dataset(
            x[fitted_rows],
            label=target[fitted_rows],
            init_score=offset[fitted_rows],
            feature_name=features,
            categorical_feature=categorical_index,
        )
        booster = lgb.train(settings, development_set, num_boost_round=best_iteration)
        booster.free_dataset()
    model = CreditModel(
        # Only the trees early stopping chose, so the saved model is the evaluated one.
        booster=lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration)),
        features=features,
        categories=categories,
        calibration=Calibration(a=float(platt.coef_[0][0]), b=float(platt.intercept_[0])),
        scale=scale,
        fill={
            name: float(np.nanmedian(x[fitted_rows, features.index(name)]))
            for name in data.application
        },
        linear=base,
    )

    scorecard = Scorecard.fit(
        data.frame.iloc[fitted_rows].reset_index(drop=True),
        target[fitted_rows],
        data.categorical,
        seed=seed,
    )

    lightgbm_test = evaluate.metrics(target[test_rows], model.predict_pd(x[test_rows]))
    if scorecard_weight > 0.0:
        model.scorecard, model.scorecard_weight = scorecard, scorecard_weight
        # The scorecard's regression gives probabilities as they are; a blend has its own.
        model.calibration = (
            Calibration()
            if blend_platt is None
            else Calibration(a=float(blend_platt.coef_[0][0]), b=float(blend_platt.intercept_[0]))
        )
    pd_test = model.predict_pd(x[test_rows])
    scores = scale.points(pd_test)
    scorecard_pd = scorecard.predict_pd(data.frame.iloc[test_rows].reset_index(drop=True))
    test = pd.DataFrame(
        {"target": target[test_rows], "pd": pd_test, "score": scores, "scorecard_pd": scorecard_pd}
    )
    if data.time is not None:
        test["time"] = pd.to_datetime(data.time).to_numpy()[test_rows]
    importance = dict(
        zip(
            features,
            booster.feature_importance("gain", iteration=best_iteration),
            strict=True,
        )
    )
    report: dict[str, Any] = {
        "version": None,
        "source": data.source,
        "n_train": len(train_rows),
        "n_valid": len(valid_rows),
        "n_fitted": len(fitted_rows),
        "n_test": len(test_rows),
        "test_bad_rate": float(target[test_rows].mean()),
        **evaluate.metrics(target[test_rows], pd_test),
        "best_iteration": best_iteration,
        "refit": base is not None and refit,
        "calibration": evaluate.calibration_table(target[test_rows], pd_test),
        "bands": evaluate.band_table(target[test_rows], scores, scale),
        "top_features": evaluate.top_features({k: float(v) for k, v in importance.items()}),
        "predictor": model.predictor,
        "scorecard_weight": scorecard_weight,
        "lightgbm": lightgbm_test,
        "scorecard": {
            **evaluate.metrics(target[test_rows], scorecard_pd),
            "features": [b.feature for b in scorecard.binnings],
        },
        "linear_base": None,
        "oracle_auc": None,
        "oracle_gap": None,
    }
    if base is not None:
        report["linear_base"] = {
            **(base_summary or {}),
            "auc": evaluate.auc(target[test_rows], base.log_odds(x[test_rows])),
        }
    if data.time is not None:
        times = pd.to_datetime(data.time).to_numpy()
        report["test_period"] = [str(times[test_rows].min())[:10], str(times[test_rows].max())[:10]]
    if data.oracle_pd is not None:
        oracle = np.asarray(data.oracle_pd, dtype=np.float64)[test_rows]
        known = ~np.isnan(oracle)
        if known.all():
            test["oracle_pd"] = oracle
            report["oracle_auc"] = evaluate.auc(target[test_rows], oracle)
            report["oracle_gap"] = report["oracle_auc"] - report["auc"]
            report["oracle_ks"] = evaluate.ks(target[test_rows], oracle)
    model.meta = {
        "source": data.source,
        "seed": seed,
        "params": {k: v for k, v in settings.items() if k != "monotone_constraints"},
        "linear_base": report["linear_base"],
        "monotone": {name: d for name, d in data.monotone.items() if d},
        "categorical": list(data.categorical),
        "fingerprint": data.fingerprint,
        "missing_share": evaluate.frame_summary(features, data.frame.iloc[fitted_rows]),
        "metrics": {k: report[k] for k in ("auc", "gini", "ks", "brier", "n_train", "n_test")},
        "reference": reference_distribution(model, x[fitted_rows]),
        "libraries": {
            name: importlib.metadata.version(name)
            for name in ("lightgbm", "scikit-learn", "numpy", "pandas")
        },
    }
    return TrainResult(model=model, scorecard=scorecard, report=report, test=test)


def reference_distribution(
    model: CreditModel, x: NDArray[np.float64], bins: int = 10
) -> dict[str, Any]:
    """Decile edges and shares of the score and of each numeric enterprise feature in the
    training population, kept with the model for stability (PSI) monitoring. Monitoring
    scores enterprises without an application, so the score's reference is taken the same
    way (application inputs at their fill value) and application inputs get none."""
    profile = x.copy()
    for name, value in model.fill.items():
        profile[:, model.features.index(name)] = value
    scores = model.scale.points(model.predict_pd(profile)).astype(np.float64)
    reference = {"score": _histogram(scores, bins)}
    for i, name in enumerate(model.features):
        if name not in model.categories and name not in model.fill:
            reference[name] = _histogram(x[:, i], bins)
    return reference


def _histogram(values: NDArray[np.float64], bins: int) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    edges = (
        np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])).tolist()
        if len(present)
        else []
    )
    return {"edges": edges, "shares": shares(values, edges)}


def shares(values: NDArray[np.float64], edges: Sequence[float]) -> list[float]:
    """Share of values per bin (right-closed bins between the edges), missing last."""
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = [*np.bincount(bins, minlength=len(edges) + 1).tolist(), int(missing.sum())]
    total = max(len(values), 1)
    return [c / total for c in counts]
