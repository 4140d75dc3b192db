"""Tuning for a bank's own file (``finance credit train --data``): a small search over the
model's main settings by stratified k-fold cross-validation on the rows the final model
may learn from (the test rows of ``credit.train.split`` stay untouched), within a time
budget, with the WOE scorecard cross-validated on the same folds beside it.

Candidates, in a fixed order for a seed: the default settings with and without the
linear base, then settings drawn without replacement (seeded) from a small grid over
the tree size, the rows a leaf needs, the learning rate, column sampling and the L2
penalty. Each candidate trains one booster per fold for up to ``MAX_ROUNDS`` rounds; its
number of rounds is the one with the best mean AUC over the folds (as ``lightgbm.cv``
chooses it) and its score is that mean AUC. A candidate starts only while the time spent
plus one and a half times the longest candidate so far fits in the budget, so the search
ends within it (the first candidate always runs). The scorecard wins when its cross-validated AUC is
higher than the best candidate's; the report says which won and by how much.

The same file, seed and budget give the same report as long as the same candidates fit
in the budget (the list of candidates tried is in the report).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from credit import evaluate
from credit.linear import LinearBase
from credit.model import category_mapping, encode
from credit.scorecard import Scorecard
from credit.train import TrainingSet, TrainResult, default_params, split, train
from finance.core.errors import Invalid

FOLDS = 5
MAX_ROUNDS = 600
DEFAULT_BUDGET_SECONDS = 180.0
MIN_MINORITY_ROWS = 50
DRAWN = 10  # candidates drawn from the grid after the two defaults
SAFETY = 1.5  # a candidate starts when 1.5 times the longest so far still fits

GRID: Mapping[str, tuple[Any, ...]] = {
    "num_leaves": (3, 7, 15, 31),
    "min_data_in_leaf": (10, 20, 40, 80),
    "learning_rate": (0.02, 0.05, 0.1),
    "feature_fraction": (0.5, 0.8, 1.0),
    "lambda_l2": (0.0, 1.0, 10.0),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    params: dict[str, Any]
    linear_base: bool


@dataclass(slots=True)
class Tried:
    candidate: Candidate
    cv_auc: float
    fold_aucs: list[float]
    rounds: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.candidate.name,
            "linear_base": self.candidate.linear_base,
            "params": self.candidate.params,
            "cv_auc": self.cv_auc,
            "fold_aucs": self.fold_aucs,
            "rounds": self.rounds,
            "seconds": round(self.seconds, 2),
        }


@dataclass(slots=True)
class Tuning:
    tried: list[Tried]
    scorecard_cv_auc: float
    scorecard_fold_aucs: list[float]
    candidates: int  # how many the search had
    budget_seconds: float
    seconds: float
    seed: int
    folds: int

    @property
    def best(self) -> Tried:
        return max(self.tried, key=lambda t: t.cv_auc)

    @property
    def scorecard_wins(self) -> bool:
        return self.scorecard_cv_auc > self.best.cv_auc

    def report(self) -> dict[str, Any]:
        best = self.best
        margin = best.cv_auc - self.scorecard_cv_auc
        if self.scorecard_wins:
            winner = "scorecard"
            why = (
                f"the WOE scorecard's cross-validated AUC {self.scorecard_cv_auc:.4f} is "
                f"above the best LightGBM candidate's ({best.candidate.name}, "
                f"{best.cv_auc:.4f}) by {-margin:.4f}"
            )
        else:
            winner = "lightgbm"
            why = (
                f"LightGBM candidate {best.candidate.name} has the best cross-validated AUC, "
                f"{best.cv_auc:.4f}, {margin:+.4f} against the WOE scorecard's "
                f"{self.scorecard_cv_auc:.4f}"
            )
        return {
            "winner": winner,
            "why": why,
            "best": best.candidate.name,
            "best_cv_auc": best.cv_auc,
            "scorecard_cv_auc": self.scorecard_cv_auc,
            "scorecard_fold_aucs": self.scorecard_fold_aucs,
            "margin_over_scorecard": margin,
            "candidates": [t.as_dict() for t in self.tried],
            "tried": len(self.tried),
            "of": self.candidates,
            "budget_seconds": self.budget_seconds,
            "seconds": round(self.seconds, 2),
            "seed": self.seed,
            "folds": self.folds,
        }


def check(data: TrainingSet) -> None:
    """Refuse a training set that cannot be tuned: one class only, or fewer than
    ``MIN_MINORITY_ROWS`` rows of the smaller class."""
    target = np.asarray(data.target, dtype=np.int64)
    bads = int(target.sum())
    goods = len(target) - bads
    if bads == 0 or goods == 0:
        only = "bad" if goods == 0 else "good"
        raise Invalid(
            f"the target has one class only: all {len(target)} labelled rows are {only}",
            rows=len(target),
        )
    if min(bads, goods) < MIN_MINORITY_ROWS:
        smaller = "bad" if bads < goods else "good"
        raise Invalid(
            f"too few {smaller} rows to train and cross-validate: {min(bads, goods)}, at least"
            f" {MIN_MINORITY_ROWS} are needed",
            bads=bads,
            goods=goods,
        )


def candidates(n_rows: int, bad_rate: float, seed: int) -> list[Candidate]:
    defaults = {
        k: v
        for k, v in default_params(n_rows, bad_rate, seed).items()
        if k in GRID or k in ("max_depth", "bagging_fraction", "bagging_freq", "cat_smooth")
    }
    listed = [
        Candidate("default+linear", defaults, True),
        Candidate("default", defaults, False),
    ]
    grid = [
        dict(zip(GRID, values, strict=True))
        for values in np.array(np.meshgrid(*GRID.values(), indexing="ij"), dtype=object)
        .reshape(len(GRID), -1)
        .T.tolist()
    ]
    rng = np.random.default_rng(seed)
    for number, index in enumerate(rng.choice(len(grid), size=DRAWN, replace=False).tolist()):
        chosen = grid[index]
        params = {
            **chosen,
            "max_depth": -1,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "cat_smooth": 10.0,
        }
        listed.append(Candidate(f"grid-{number + 1}", params, False))
    return listed


def tune(
    data: TrainingSet,
    *,
    seed: int = 42,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    limit: int | None = None,
) -> Tuning:
    """Cross-validate the candidates (the first ``limit`` of them, when given) and the
    scorecard on the non-test rows of ``data``."""
    started = time.perf_counter()
    check(data)
    train_rows, valid_rows, _ = split(data, seed)
    rows = np.sort(np.concatenate([train_rows, valid_rows]))
    target = np.asarray(data.target, dtype=np.int64)[rows]
    frame = data.frame.iloc[rows].reset_index(drop=True)
    features = list(frame.columns)
    categories = category_mapping(frame, data.categorical)
    x = encode(frame, features, categories)
    folds = list(StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed).split(x, target))

    scorecard_aucs = []
    for fit_rows, held_rows in folds:
        card = Scorecard.fit(
            frame.iloc[fit_rows].reset_index(drop=True),
            target[fit_rows],
            data.categorical,
            seed=seed,
        )
        predicted = card.predict_pd(frame.iloc[held_rows].reset_index(drop=True))
        scorecard_aucs.append(evaluate.auc(target[held_rows], predicted))

    listed = candidates(len(rows), float(target.mean()), seed)[:limit]
    tried: list[Tried] = []
    longest = 0.0
    for candidate in listed:
        spent = time.perf_counter() - started
        if tried and spent + SAFETY * longest > budget_seconds:
            break
        began = time.perf_counter()
        fold_curves = [
            _fold_curve(candidate, x, target, fold, features, categories, data, seed)
            for fold in folds
        ]
        curve = np.mean(np.array(fold_curves), axis=0)
        best_round = int(np.argmax(curve))
        elapsed = time.perf_counter() - began
        longest = max(longest, elapsed)
        tried.append(
            Tried(
                candidate=candidate,
                cv_auc=float(curve[best_round]),
                fold_aucs=[float(c[best_round]) for c in fold_curves],
                rounds=best_round + 1,
                seconds=elapsed,
            )
        )
    return Tuning(
        tried=tried,
        scorecard_cv_auc=float(np.mean(scorecard_aucs)),
        scorecard_fold_aucs=[float(a) for a in scorecard_aucs],
        candidates=len(listed),
        budget_seconds=budget_seconds,
        seconds=time.perf_counter() - started,
        seed=seed,
        folds=FOLDS,
    )


def _fold_curve(
    candidate: Candidate,
    x: NDArray[np.float64],
    target: NDArray[np.int64],
    fold: tuple[NDArray[np.intp], NDArray[np.intp]],
    features: list[str],
    categories: dict[str, list[str]],
    data: TrainingSet,
    seed: int,
) -> NDArray[np.float64]:
    """The held-out AUC after each boosting round (``MAX_ROUNDS`` long; a booster that
    stops growing keeps its last AUC)."""
    fit_rows, held_rows = fold
    offset = np.zeros(len(x))
    if candidate.linear_base:
        base, _ = LinearBase.fit(
            x[fit_rows], target[fit_rows], features, categories, data.monotone, seed
        )
        offset = base.log_odds(x)
    params = {
        "objective": "binary",
        "metric": "auc",
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
        "min_data_per_group": candidate.params.get("min_data_in_leaf", 20),
        "max_cat_to_onehot": 4,
        **candidate.params,
        "monotone_constraints": [int(data.monotone.get(name, 0)) for name in features],
        "monotone_constraints_method": "advanced",
    }
    categorical_index = [features.index(name) for name in data.categorical]
    fit_set = lgb.Dataset(
        x[fit_rows],
        label=target[fit_rows],
        init_score=offset[fit_rows] if candidate.linear_base else None,
        feature_name=features,
        categorical_feature=categorical_index,
        free_raw_data=False,
    )
    held_set = lgb.Dataset(
        x[held_rows],
        label=target[held_rows],
        init_score=offset[held_rows] if candidate.linear_base else None,
        reference=fit_set,
    )
    recorded: dict[str, Any] = {}
    lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[held_set],
        valid_names=["held"],
        callbacks=[lgb.record_evaluation(recorded)],
    )
    aucs = list(recorded["held"]["auc"])
    curve = np.full(MAX_ROUNDS, aucs[-1] if aucs else 0.5)
    curve[: len(aucs)] = aucs
    return curve


def train_tuned(
    data: TrainingSet, *, seed: int = 42, budget_seconds: float = DEFAULT_BUDGET_SECONDS
) -> TrainResult:
    """Tune, then train the winner as ``credit.train.train`` does (its split, early
    stopping on the validation rows, calibration, the out-of-time or held-out test); the
    report carries the tuning under ``tuning``."""
    tuning = tune(data, seed=seed, budget_seconds=budget_seconds)
    best = tuning.best.candidate
    result = train(
        data,
        seed=seed,
        params=best.params,
        linear_base=best.linear_base,
        scorecard_weight=1.0 if tuning.scorecard_wins else 0.0,
    )
    result.report["tuning"] = tuning.report()
    result.model.meta["tuning"] = {
        key: result.report["tuning"][key]
        for key in ("winner", "why", "best", "best_cv_auc", "scorecard_cv_auc", "seed")
    }
    return result
