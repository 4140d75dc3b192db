"""The linear base of the credit model: a regularised logistic regression on the model's
inputs whose log-odds are LightGBM's starting score (``init_score``), so the trees learn
only what a linear score misses (thresholds, saturation, interactions).

A credit data set has a few hundred bads. Boosted trees spend them on step functions, one
threshold at a time; a logistic regression spends them on one slope per input and so
estimates an additive risk far better from the same rows (measured in docs/credit.md).
Starting the trees from it keeps LightGBM's strengths where the data show them.

Terms (the regression's columns), all from the model's numeric input matrix:

- a numeric feature's value: ``ln(x + offset)`` when its training values are non-negative
  and exceed ``LOG_ABOVE`` (amounts, counts, ages, ratios: long right tails), else ``x``.
  The offset is 1, or the 1st percentile of the positive training values when that is
  smaller, so counts and yuan read as ``ln(1 + x)`` while a ratio spread over orders of
  magnitude below one keeps its logarithm. Missing values take the training median, and a
  missing flag is added when more than ``MISSING_SHARE`` of the training rows miss it;
- a numeric feature's steps, ``x > level``: above every level but the last of a feature
  with 3 to ``MAX_LEVELS`` values (ratings, short month counts), or above zero for a
  non-negative feature with more values (any arrears, any court case), where each side
  holds ``MIN_CATEGORY`` training rows: "none against any" often carries more risk than
  each further month or case;
- a categorical feature's flags, one per category code with at least ``MIN_CATEGORY``
  training rows (rarer, unseen or missing categories have none).

Every term is standardised on the training rows. The regression is a lasso (L1): with a
hundred-odd candidate terms and a few hundred bads, a ridge (L2) penalty keeps every term
with a little noise each, and those small errors add up; the lasso sets most of them to
zero (about 35 of 130 terms remain on the provinces measured; docs/credit.md). Its
penalty ``C`` is chosen by stratified 5-fold cross-validated AUC on the training rows from
``C_GRID``. A feature with a business direction keeps a coefficient of that sign on its
value and step terms: while one is fitted with the other sign, the most contrary one is
dropped and the regression refitted (as scorecards are built). Terms left at zero are not
kept.

With standardised terms a term's contribution to the log-odds is ``coefficient * z``,
zero on average over the training rows; a feature's contribution is the sum over its
terms, and with the intercept they add up to the log-odds: the SHAP values of a linear
model of independent inputs, added to LightGBM's for the reason codes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

Array = NDArray[np.float64]

LOG_ABOVE = 1.5
MISSING_SHARE = 0.01
MIN_CATEGORY = 30
C_GRID = (0.005, 0.01, 0.02, 0.05, 0.1, 0.3)
DEFAULT_C = 0.05  # when the training rows are too few to cross-validate
INTERCEPT_SCALING = 100.0
FOLDS = 5
MAX_ITER = 2000
TOP_TERMS = 15  # listed in the report

MAX_LEVELS = 6

VALUE, MISSING, CATEGORY, STEP = "value", "missing", "category", "step"


@dataclass(frozen=True, slots=True)
class Term:
    """One column of the regression: what it reads (``feature``, the column of the input
    matrix at ``position``), how (``kind``: the value, its missing flag, or the flag of
    category ``code``), and its standardisation and coefficient."""

    feature: str
    position: int
    kind: str
    code: float = math.nan
    log: bool = False
    offset: float = 1.0
    fill: float = 0.0
    center: float = 0.0
    scale: float = 1.0
    coefficient: float = 0.0


class LinearBase:
    """The fitted regression over a model's input matrix (categoricals as codes)."""

    def __init__(self, features: Sequence[str], terms: Sequence[Term], intercept: float) -> None:
        self.features = list(features)
        self.terms = list(terms)
        self.intercept = intercept
        # Column-wise arrays: evaluating a row is a handful of numpy calls, not one per term.
        self._columns = _Columns.of(self.terms)
        self._coefficient = np.array([t.coefficient for t in self.terms], dtype=np.float64)
        self._owner = np.zeros((len(self.terms), len(self.features)))
        self._owner[np.arange(len(self.terms)), self._columns.position] = 1.0

    # ------------------------------------------------------------ evaluation

    def design(self, x: Array) -> Array:
        """The standardised terms of every row of ``x``."""
        return self._columns.design(x)

    def log_odds(self, x: Array) -> Array:
        result: Array = self.intercept + self.design(x) @ self._coefficient
        return result

    def contributions(self, x: Array) -> Array:
        """Per row, each feature's contribution to the log-odds (one column per feature)
        and the intercept last, as LightGBM's ``pred_contrib`` lays them out."""
        per_feature = (self.design(x) * self._coefficient) @ self._owner
        result: Array = np.hstack([per_feature, np.full((len(x), 1), self.intercept)])
        return result

    # ------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls,
        x: Array,
        target: NDArray[np.int64],
        features: Sequence[str],
        categories: Mapping[str, Sequence[str]],
        monotone: Mapping[str, int],
        seed: int,
        penalty: float | None = None,
    ) -> tuple[LinearBase, dict[str, Any]]:
        """Fit on the training rows (``categories``: each categorical feature's categories
        in code order); returns the base and a summary for the report. ``penalty`` skips
        the cross-validation (a refit with a penalty chosen before)."""
        terms = _terms(x, features, list(categories))
        design = _design_of(x, terms)
        cv_auc = None
        if penalty is None:
            penalty, cv_auc = _choose_c(design, target, seed)
        active = list(range(len(terms)))
        dropped: list[str] = []
        while True:
            regression = _regression(penalty, seed).fit(design[:, active], target)
            coefficients = regression.coef_[0]
            wrong = {
                index: abs(coefficient)
                for index, coefficient in zip(active, coefficients, strict=True)
                if terms[index].kind in (VALUE, STEP)
                and coefficient * monotone.get(terms[index].feature, 0) < 0
            }
            if not wrong:
                break
            # One at a time, the most contrary first: a wrong sign is often a correlated
            # partner's doing, and the others may turn once it goes.
            worst = max(wrong, key=lambda index: wrong[index])
            dropped.append(terms[worst].feature)
            active.remove(worst)
        # The lasso's zeros contribute nothing: the base keeps only the terms it uses.
        fitted = [
            _replace(terms[index], coefficient=float(coefficient))
            for index, coefficient in zip(active, coefficients, strict=True)
            if coefficient != 0
        ]
        base = cls(features, fitted, float(regression.intercept_[0]))
        largest = sorted(fitted, key=lambda term: -abs(term.coefficient))[:TOP_TERMS]
        summary = {
            "c": penalty,
            "cv_auc": cv_auc,
            "terms": len(fitted),
            "candidate_terms": len(terms),
            "features": len({term.feature for term in fitted}),
            "dropped_for_sign": sorted(dropped),
            "top_terms": [
                {
                    "feature": term.feature,
                    "term": _label(term, categories),
                    "coefficient": term.coefficient,
                }
                for term in largest
            ],
        }
        return base, summary

    # ------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "intercept": self.intercept,
            "terms": [
                {**asdict(t), "code": None if math.isnan(t.code) else t.code} for t in self.terms
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearBase:
        terms = [
            Term(**{**t, "code": math.nan if t["code"] is None else float(t["code"])})
            for t in data["terms"]
        ]
        return cls(data["features"], terms, float(data["intercept"]))


def _label(term: Term, categories: Mapping[str, Sequence[str]]) -> str:
    """How the report names a term: ``= category``, ``> level``, ``value`` or ``missing``."""
    if term.kind == CATEGORY:
        return f"= {categories[term.feature][int(term.code)]}"
    if term.kind == STEP:
        return f"> {term.code:g}"
    return term.kind


def _replace(term: Term, **changes: Any) -> Term:
    return Term(**{**asdict(term), **changes})


def _terms(x: Array, features: Sequence[str], categorical: Sequence[str]) -> list[Term]:
    """The terms of the training matrix ``x``, standardised on it, without coefficients."""
    terms: list[Term] = []
    for position, feature in enumerate(features):
        column = x[:, position]
        present = column[~np.isnan(column)]
        if feature in categorical:
            codes, counts = np.unique(present, return_counts=True)
            terms += [
                Term(feature, position, CATEGORY, code=float(code))
                for code, count in zip(codes, counts, strict=True)
                if count >= MIN_CATEGORY
            ]
            continue
        if len(present) == 0:
            continue
        log = bool(present.min() >= 0 and present.max() > LOG_ABOVE)
        positive = present[present > 0]
        offset = min(1.0, float(np.quantile(positive, 0.01))) if log else 1.0
        terms.append(
            Term(feature, position, VALUE, log=log, offset=offset, fill=float(np.median(present)))
        )
        if len(present) < len(column) * (1 - MISSING_SHARE):
            terms.append(Term(feature, position, MISSING))
        terms += [Term(feature, position, STEP, code=step) for step in _steps(present)]
    raw = _design_of(x, terms, standardise=False)
    center, scale = raw.mean(axis=0), raw.std(axis=0)
    varies = raw.max(axis=0) > raw.min(axis=0)  # a constant column carries nothing
    return [
        _replace(term, center=float(c), scale=float(s))
        for term, c, s, keep in zip(terms, center, scale, varies, strict=True)
        if keep
    ]


def _steps(present: Array) -> list[float]:
    """The thresholds of a numeric feature's step terms (``x > threshold``): every level but
    the last of a feature with 3 to ``MAX_LEVELS`` values (ratings, short month counts),
    else zero for a non-negative feature with more values (any arrears, any court case);
    each side of a step needs ``MIN_CATEGORY`` training rows."""
    levels = np.unique(present)
    if len(levels) <= 2:
        return []  # the value term is already the step
    if len(levels) <= MAX_LEVELS:
        candidates = levels[:-1]
    elif levels[0] == 0:
        candidates = levels[:1]
    else:
        return []
    return [
        float(level)
        for level in candidates
        if MIN_CATEGORY <= int((present > level).sum()) <= len(present) - MIN_CATEGORY
    ]


def _design_of(x: Array, terms: Sequence[Term], *, standardise: bool = True) -> Array:
    return _Columns.of(terms).design(x, standardise=standardise)


@dataclass(frozen=True, slots=True)
class _Columns:
    """The terms' fields as arrays, one entry per term."""

    position: NDArray[np.int64]
    is_missing: NDArray[np.bool_]
    is_category: NDArray[np.bool_]
    is_step: NDArray[np.bool_]
    code: Array
    log: NDArray[np.bool_]
    offset: Array
    fill: Array
    center: Array
    scale: Array

    @classmethod
    def of(cls, terms: Sequence[Term]) -> _Columns:
        def floats(name: str) -> Array:
            return np.array([getattr(t, name) for t in terms], dtype=np.float64)

        def kinds(kind: str) -> NDArray[np.bool_]:
            return np.array([t.kind == kind for t in terms], dtype=bool)

        return cls(
            position=np.array([t.position for t in terms], dtype=np.int64),
            is_missing=kinds(MISSING),
            is_category=kinds(CATEGORY),
            is_step=kinds(STEP),
            code=floats("code"),
            log=np.array([t.log for t in terms], dtype=bool),
            offset=floats("offset"),
            fill=floats("fill"),
            center=floats("center"),
            scale=floats("scale"),
        )

    def design(self, x: Array, *, standardise: bool = True) -> Array:
        """Every term of every row of ``x``, standardised unless told otherwise."""
        values = x[:, self.position]
        missing = np.isnan(values)
        filled = np.where(missing, self.fill, values)
        log, offset = self.log, self.offset
        logged = np.where(log, np.log(np.where(log, np.maximum(filled, 0.0) + offset, 1.0)), filled)
        # The first kind that applies, as ``np.select`` would choose it (nested ``where``
        # costs a fifth of ``select`` on the one row of an online score).
        with np.errstate(invalid="ignore"):
            chosen: Array = np.where(
                self.is_missing,
                missing,
                np.where(
                    self.is_category,
                    values == self.code,
                    np.where(self.is_step, filled > self.code, logged),
                ),
            ).astype(np.float64)
        if not standardise:
            return chosen
        result: Array = (chosen - self.center) / self.scale
        return result


def _regression(penalty: float, seed: int) -> LogisticRegression:
    # The lasso (l1_ratio=1; scikit-learn >= 1.8 reads it without ``penalty``). liblinear's
    # intercept is a column of ``INTERCEPT_SCALING`` under the same penalty; a large one
    # leaves it practically unpenalised.
    return LogisticRegression(
        C=penalty,
        l1_ratio=1.0,
        solver="liblinear",
        intercept_scaling=INTERCEPT_SCALING,
        max_iter=MAX_ITER,
        random_state=seed,
    )


def _choose_c(design: Array, target: NDArray[np.int64], seed: int) -> tuple[float, float | None]:
    """The penalty with the best cross-validated AUC (the smaller on a tie)."""
    folds = min(FOLDS, int(target.sum()), int(len(target) - target.sum()))
    if folds < 2:
        return DEFAULT_C, None
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for penalty in C_GRID:
            fold_scores = cross_val_score(
                _regression(penalty, seed), design, target, cv=splitter, scoring="roc_auc"
            )
            scores[penalty] = float(np.mean(fold_scores))
    best = max(C_GRID, key=lambda penalty: (scores[penalty], -penalty))
    return best, scores[best]
