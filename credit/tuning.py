"""Tuning for a bank's own file (``finance credit train --data``): a small search over the
model's main settings by stratified k-fold cross-validation on the rows the final model
may learn from (the test rows of ``credit.train.split`` stay untouched), within a time
budget, with the WOE scorecard and blends of the two cross-validated on the same folds.

Candidates, in a fixed order for a seed: the default settings with and without the
linear base, then settings drawn without replacement (seeded) from a small grid over
the tree size, the rows a leaf needs, the learning rate, column sampling and the L2
penalty. Each candidate trains one booster per fold for up to ``MAX_ROUNDS`` rounds; its
number of rounds is the one with the best mean AUC over the folds (as ``lightgbm.cv``
chooses it) and its score is that mean AUC. A candidate starts only while the time spent
plus one and a half times the longest candidate so far fits in the budget, so the search
ends within it (the first candidate always runs).

Blend: the best candidate's and the scorecard's log-odds combined, ``(1 - w)`` times the
trees' plus ``w`` times the scorecard's, from their out-of-fold predictions (each fold's
rows predicted by the booster, at the candidate's rounds, and by the scorecard, neither
of which learnt from them), so it costs no training, only AUCs (scored within each
candidate's time, so the budget rule counts them). The scorecard's weight ``w`` is the
one of ``WEIGHTS`` (0.25, 0.5, 0.75) with the best mean AUC over the folds; the ends, 0
and 1, are the candidate and the scorecard themselves. A few fixed weights rather than a
fitted one: the folds hold a few dozen bads each and the AUC moves in steps along ``w``,
so three choices leave less room to fit the folds' noise than a continuous optimum would;
a weight fitted by log loss (a logistic regression on the two log-odds) would mainly buy
calibration, which the final model's Platt scaling gives anyway.

Winner: the highest cross-validated AUC of the best candidate, the best blend and the
scorecard. On a tie a blend gives way to its parts, and the scorecard to LightGBM (as
before blends existed). The report says which won and why.

Honesty: choosing the rounds, the candidate, the weight and the winner on the same folds
whose mean AUC is then reported makes that figure a little optimistic, a blend's a little
more (one more choice, from three weights). The report therefore also gives a
leave-one-fold-out estimate of the whole choice: for each fold, the rule above is applied
to the other four folds' AUCs and the predictor it picks is scored on the fold left out.
It costs no training. It is not a full nested cross-validation (that would tune again
inside each outer fold, five times the cost): each candidate's rounds are still chosen on
all five folds, and the other folds' AUCs that make the choice come from boosters that
learnt from the fold left out.

The same file, seed and budget give the same report as long as the same candidates fit
in the budget (the list of candidates tried is in the report).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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

Array = NDArray[np.float64]

FOLDS = 5
MAX_ROUNDS = 600
DEFAULT_BUDGET_SECONDS = 180.0
MIN_MINORITY_ROWS = 50
DRAWN = 10  # candidates drawn from the grid after the two defaults
SAFETY = 1.5  # a candidate starts when 1.5 times the longest so far still fits
WEIGHTS = (0.25, 0.5, 0.75)  # the scorecard's share of a blend's log-odds

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


@dataclass(frozen=True, slots=True)
class Blend:
    """A candidate's and the scorecard's out-of-fold log-odds, ``(1 - w)`` and ``w``."""

    candidate: str
    scorecard_weight: float
    fold_aucs: list[float]

    @property
    def cv_auc(self) -> float:
        return float(np.mean(self.fold_aucs))


def blends(
    candidate: str,
    held_out: Array,
    scorecard_held_out: Array,
    target: NDArray[np.int64],
    held: Sequence[NDArray[np.intp]],
) -> list[Blend]:
    """A candidate's blends with the scorecard, one per weight of ``WEIGHTS``, scored on
    each fold's held-out rows."""
    return [
        Blend(
            candidate=candidate,
            scorecard_weight=weight,
            fold_aucs=[
                evaluate.auc(
                    target[rows],
                    (1.0 - weight) * held_out[rows] + weight * scorecard_held_out[rows],
                )
                for rows in held
            ],
        )
        for weight in WEIGHTS
    ]


@dataclass(slots=True)
class Tried:
    candidate: Candidate
    fold_aucs: list[float]
    rounds: int
    seconds: float  # its blends included
    # Out-of-fold raw log-odds at ``rounds``, one per tuning row, and their blends with
    # the scorecard's.
    held_out: Array = field(repr=False)
    blends: list[Blend] = field(repr=False)

    @property
    def cv_auc(self) -> float:
        return float(np.mean(self.fold_aucs))

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


@dataclass(frozen=True, slots=True)
class Choice:
    """What the winner rule picks from the AUCs of some of the folds (``using``)."""

    winner: str  # lightgbm, blend or scorecard
    best: Tried
    blends: list[Blend]  # the best candidate's, one per weight
    blend: Blend  # the best of them
    using: tuple[int, ...]

    @property
    def scorecard_weight(self) -> float:
        """The scorecard's share of the chosen predictor's log-odds."""
        return {"lightgbm": 0.0, "blend": self.blend.scorecard_weight, "scorecard": 1.0}[
            self.winner
        ]

    def label(self) -> str:
        if self.winner == "lightgbm":
            return self.best.candidate.name
        if self.winner == "blend":
            return f"blend({self.best.candidate.name}, {self.blend.scorecard_weight:g})"
        return "scorecard"

    def fold_auc(self, fold: int, scorecard_fold_aucs: Sequence[float]) -> float:
        """The chosen predictor's AUC on one fold."""
        if self.winner == "lightgbm":
            return self.best.fold_aucs[fold]
        if self.winner == "blend":
            return self.blend.fold_aucs[fold]
        return scorecard_fold_aucs[fold]


def choose(
    tried: Sequence[Tried], scorecard_fold_aucs: Sequence[float], using: Sequence[int]
) -> Choice:
    """The winner rule on the folds ``using``: the best candidate by mean AUC, its best
    blend with the scorecard, then the best of candidate, blend and scorecard (a blend
    must beat both its parts; the scorecard, the candidate)."""

    def mean(aucs: Sequence[float]) -> float:
        return float(np.mean([aucs[k] for k in using]))

    best = max(tried, key=lambda t: mean(t.fold_aucs))  # the first on ties
    blend = max(best.blends, key=lambda b: mean(b.fold_aucs))
    trees, blended, card = mean(best.fold_aucs), mean(blend.fold_aucs), mean(scorecard_fold_aucs)
    if blended > max(trees, card):
        winner = "blend"
    elif card > trees:
        winner = "scorecard"
    else:
        winner = "lightgbm"
    return Choice(winner, best, best.blends, blend, tuple(using))


@dataclass(slots=True)
class Tuning:
    tried: list[Tried]
    scorecard_fold_aucs: list[float]
    choice: Choice  # on all the folds
    # Leave-one-fold-out: per fold, what the rule picked on the other folds, and its AUC
    # on the fold left out.
    selection: list[Choice]
    selection_fold_aucs: list[float]
    candidates: int  # how many the search had
    budget_seconds: float
    seconds: float
    seed: int
    folds: int

    @property
    def best(self) -> Tried:
        return self.choice.best

    @property
    def scorecard_cv_auc(self) -> float:
        return float(np.mean(self.scorecard_fold_aucs))

    @property
    def selection_cv_auc(self) -> float:
        return float(np.mean(self.selection_fold_aucs))

    @property
    def winner(self) -> str:
        return self.choice.winner

    @property
    def scorecard_weight(self) -> float:
        return self.choice.scorecard_weight

    @property
    def winner_cv_auc(self) -> float:
        return {
            "lightgbm": self.best.cv_auc,
            "blend": self.choice.blend.cv_auc,
            "scorecard": self.scorecard_cv_auc,
        }[self.winner]

    def why(self) -> str:
        best, blend, card = self.best, self.choice.blend, self.scorecard_cv_auc
        name, weight = best.candidate.name, blend.scorecard_weight
        if self.winner == "blend":
            return (
                f"the blend of LightGBM candidate {name} and the WOE scorecard (scorecard "
                f"weight {weight:g}) has the best cross-validated AUC, {blend.cv_auc:.4f}: "
                f"{blend.cv_auc - card:+.4f} against the scorecard's {card:.4f} and "
                f"{blend.cv_auc - best.cv_auc:+.4f} against the candidate's {best.cv_auc:.4f}"
            )
        if self.winner == "scorecard":
            return (
                f"the WOE scorecard's cross-validated AUC {card:.4f} is above the best "
                f"LightGBM candidate's ({name}, {best.cv_auc:.4f}) by {card - best.cv_auc:.4f}"
                f" and the best blend's (weight {weight:g}, {blend.cv_auc:.4f})"
            )
        return (
            f"LightGBM candidate {name} has the best cross-validated AUC, {best.cv_auc:.4f}, "
            f"{best.cv_auc - card:+.4f} against the WOE scorecard's {card:.4f} (the best "
            f"blend, weight {weight:g}: {blend.cv_auc:.4f})"
        )

    def report(self) -> dict[str, Any]:
        best, blend, card = self.best, self.choice.blend, self.scorecard_cv_auc
        return {
            "winner": self.winner,
            "why": self.why(),
            "winner_cv_auc": self.winner_cv_auc,
            "scorecard_weight": self.scorecard_weight,
            "best": best.candidate.name,
            "best_cv_auc": best.cv_auc,
            "scorecard_cv_auc": card,
            "scorecard_fold_aucs": self.scorecard_fold_aucs,
            "margin_over_scorecard": best.cv_auc - card,
            "blend": {
                "candidate": best.candidate.name,
                "scorecard_weight": blend.scorecard_weight,
                "cv_auc": blend.cv_auc,
                "fold_aucs": blend.fold_aucs,
                "margin_over_scorecard": blend.cv_auc - card,
                "weights": [
                    {"scorecard_weight": b.scorecard_weight, "cv_auc": b.cv_auc}
                    for b in self.choice.blends
                ],
            },
            "selection": {
                "cv_auc": self.selection_cv_auc,
                "fold_aucs": self.selection_fold_aucs,
                "chosen": [choice.label() for choice in self.selection],
                "margin_over_scorecard": self.selection_cv_auc - card,
            },
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


def candidates(n_rows: int, bad_rate: float, seed: int, drawn: int = DRAWN) -> list[Candidate]:
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
    size = min(drawn, len(grid))
    for number, index in enumerate(rng.choice(len(grid), size=size, replace=False).tolist()):
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
    drawn: int = DRAWN,
) -> Tuning:
    """Cross-validate the candidates (the first ``limit`` of them, when given; ``drawn``
    from the grid after the defaults, up to all of it), the scorecard and their blends on
    the non-test rows of ``data``, and choose."""
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
    held = [held_rows for _, held_rows in folds]

    scorecard_held_out = np.empty(len(rows))
    for fit_rows, held_rows in folds:
        card = Scorecard.fit(
            frame.iloc[fit_rows].reset_index(drop=True),
            target[fit_rows],
            data.categorical,
            seed=seed,
        )
        scorecard_held_out[held_rows] = card.log_odds(frame.iloc[held_rows].reset_index(drop=True))
    scorecard_aucs = [evaluate.auc(target[part], scorecard_held_out[part]) for part in held]

    listed = candidates(len(rows), float(target.mean()), seed, drawn)[:limit]
    tried: list[Tried] = []
    longest = 0.0
    for candidate in listed:
        spent = time.perf_counter() - started
        if tried and spent + SAFETY * longest > budget_seconds:
            break
        began = time.perf_counter()
        runs = [
            _fold_run(candidate, x, target, fold, features, categories, data, seed)
            for fold in folds
        ]
        curve = np.mean(np.array([run.curve for run in runs]), axis=0)
        best_round = int(np.argmax(curve))
        held_out = np.empty(len(rows))
        for rows_held, run in zip(held, runs, strict=True):
            held_out[rows_held] = run.offset + np.asarray(
                run.booster.predict(
                    x[rows_held], raw_score=True, num_iteration=best_round + 1, num_threads=1
                )
            )
        # Scored here, within the candidate's time, so the budget rule counts them.
        blended = blends(candidate.name, held_out, scorecard_held_out, target, held)
        elapsed = time.perf_counter() - began
        longest = max(longest, elapsed)
        tried.append(
            Tried(
                candidate=candidate,
                fold_aucs=[float(run.curve[best_round]) for run in runs],
                rounds=best_round + 1,
                seconds=elapsed,
                held_out=held_out,
                blends=blended,
            )
        )

    def rule(using: Sequence[int]) -> Choice:
        return choose(tried, scorecard_aucs, using)

    everything = range(FOLDS)
    selection = [rule([k for k in everything if k != left_out]) for left_out in everything]
    return Tuning(
        tried=tried,
        scorecard_fold_aucs=scorecard_aucs,
        choice=rule(everything),
        selection=selection,
        selection_fold_aucs=[
            choice.fold_auc(left_out, scorecard_aucs)
            for left_out, choice in zip(everything, selection, strict=True)
        ],
        candidates=len(listed),
        budget_seconds=budget_seconds,
        seconds=time.perf_counter() - started,
        seed=seed,
        folds=FOLDS,
    )


class _FoldRun(NamedTuple):
    curve: Array  # the held-out AUC after each round
    booster: lgb.Booster
    offset: Array  # the linear base's log-odds of the held-out rows (zero without one)


def _fold_run(
    candidate: Candidate,
    x: NDArray[np.float64],
    target: NDArray[np.int64],
    fold: tuple[NDArray[np.intp], NDArray[np.intp]],
    features: list[str],
    categories: dict[str, list[str]],
    data: TrainingSet,
    seed: int,
) -> _FoldRun:
    """One fold's booster and its held-out AUC after each boosting round (``MAX_ROUNDS``
    long; a booster that stops growing keeps its last AUC)."""
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
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[held_set],
        valid_names=["held"],
        callbacks=[lgb.record_evaluation(recorded)],
    )
    booster.free_dataset()
    aucs = list(recorded["held"]["auc"])
    curve = np.full(MAX_ROUNDS, aucs[-1] if aucs else 0.5)
    curve[: len(aucs)] = aucs
    return _FoldRun(curve, booster, offset[held_rows])


def train_tuned(
    data: TrainingSet,
    *,
    seed: int = 42,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    drawn: int = DRAWN,
) -> TrainResult:
    """Tune, then train the winner as ``credit.train.train`` does (its split, early
    stopping on the validation rows, calibration, the out-of-time or held-out test; a
    blend's trees are the best candidate's, its scorecard the challenger trained beside
    them); the report carries the tuning under ``tuning``."""
    tuning = tune(data, seed=seed, budget_seconds=budget_seconds, drawn=drawn)
    best = tuning.best.candidate
    result = train(
        data,
        seed=seed,
        params=best.params,
        linear_base=best.linear_base,
        scorecard_weight=tuning.scorecard_weight,
    )
    result.report["tuning"] = tuning.report()
    result.model.meta["tuning"] = {
        key: result.report["tuning"][key]
        for key in (
            "winner",
            "why",
            "winner_cv_auc",
            "scorecard_weight",
            "best",
            "best_cv_auc",
            "scorecard_cv_auc",
            "seed",
        )
    }
    return result
