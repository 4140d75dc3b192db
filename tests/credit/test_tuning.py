"""``finance credit train --data``: the tuning search (reproducible for a seed, within its
budget, the scorecard and the blends of the two beside it), the winner rule, a blended
model in every path that uses a model, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit import evaluate
from credit.dataset import file_training_set
from credit.registry import load_model, register
from credit.scorecard import Scorecard
from credit.scoring import explain, score_file
from credit.train import split
from credit.tuning import (
    MIN_MINORITY_ROWS,
    Candidate,
    Choice,
    Tried,
    blends,
    candidates,
    choose,
    tune,
)
from finance.cli.main import app
from finance.core.errors import Invalid
from finance.core.settings import Settings

runner = CliRunner()


def _file(path: Path, rows: int = 1000, seed: int = 0, bad_share: float | None = None) -> Path:
    """A bank's file: a threshold effect (overdue counts) and an interaction the trees can
    find, a categorical region and missing values."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, rows)
    overdue = rng.poisson(0.6, rows).astype(float)
    region = rng.choice(["郑州", "洛阳", "南阳", "开封"], rows)
    logit = -2.0 + 1.6 * (overdue >= 2) - 0.7 * (np.log(income) - 10) + (region == "南阳") * 0.8
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    if bad_share is not None:
        bad = rng.random(rows) < bad_share
    frame = pd.DataFrame(
        {
            "income": income.round(2),
            "overdue_count": overdue,
            "region": region,
            "status": np.where(bad, "bad", "good"),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "income"] = np.nan
    frame.to_csv(path, index=False)
    return path


def test_tuning_is_reproducible_for_a_seed(tmp_path: Path) -> None:
    data = file_training_set(_file(tmp_path / "loans.csv"), "status", bad_value="bad")
    first = tune(data, seed=7, limit=3).report()
    again = tune(data, seed=7, limit=3).report()
    other = tune(data, seed=8, limit=3).report()
    for report in (first, again):
        for row in report["candidates"]:
            row.pop("seconds")
        report.pop("seconds")
    assert first == again
    assert first["blend"] == again["blend"]
    assert first["selection"] == again["selection"]
    assert first["tried"] == 3
    assert [c["name"] for c in first["candidates"]] == ["default+linear", "default", "grid-1"]
    assert 0.5 < first["scorecard_cv_auc"] < 1
    assert all(0.5 < c["cv_auc"] < 1 for c in first["candidates"])
    assert first["winner"] in {"lightgbm", "blend", "scorecard"}
    assert [w["scorecard_weight"] for w in first["blend"]["weights"]] == [0.25, 0.5, 0.75]
    assert other["candidates"][0]["fold_aucs"] != first["candidates"][0]["fold_aucs"]


def test_tuning_stays_within_its_budget(tmp_path: Path) -> None:
    data = file_training_set(_file(tmp_path / "loans.csv"), "status", bad_value="bad")
    one = tune(data, seed=1, limit=1)
    budget = 3 * one.seconds  # room for a few of the twelve candidates, not all
    tuning = tune(data, seed=1, budget_seconds=budget)
    assert 1 <= len(tuning.tried) < tuning.candidates
    assert tuning.seconds <= budget  # the blends and the selection included
    assert len(tuning.choice.blends) == 3
    assert len(tuning.selection) == tuning.folds


def test_train_reports_each_candidate_and_the_winner(settings: Settings, tmp_path: Path) -> None:
    path = _file(tmp_path / "loans.csv", rows=1500)
    result = runner.invoke(
        app,
        [
            "credit", "train", "--data", str(path), "--target", "status", "--bad-value", "bad",
            "--budget", "600", "--seed", "3", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    tuning = report["tuning"]
    assert tuning["tried"] == tuning["of"] == 12
    assert len(tuning["candidates"]) == 12
    best = max(tuning["candidates"], key=lambda c: c["cv_auc"])
    assert tuning["best_cv_auc"] == best["cv_auc"]
    blend, card = tuning["blend"], tuning["scorecard_cv_auc"]
    assert blend["candidate"] == best["name"]
    assert blend["cv_auc"] == max(w["cv_auc"] for w in blend["weights"])
    if blend["cv_auc"] > max(best["cv_auc"], card):
        wins = "blend"
    else:
        wins = "scorecard" if card > best["cv_auc"] else "lightgbm"
    assert tuning["winner"] == wins == report["predictor"]
    assert tuning["winner_cv_auc"] == max(best["cv_auc"], blend["cv_auc"], card)
    assert f"{card:.4f}" in tuning["why"]
    # The registered model predicts with the winner: its test AUC is the headline one.
    if wins != "blend":
        headline = report["scorecard"] if wins == "scorecard" else report["lightgbm"]
        assert report["auc"] == headline["auc"]
    assert report["scorecard_weight"] == tuning["scorecard_weight"]
    text = runner.invoke(app, ["credit", "train", "--data", str(path), "--target", "status",
                               "--bad-value", "bad", "--budget", "600", "--seed", "3"])  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "WOE scorecard" in text.stdout
    for weight in ("0.25", "0.5", "0.75"):
        assert f"blend {weight} " in text.stdout
    assert "leave-one-fold-out" in text.stdout
    assert f"winner: {wins}" in text.stdout


def test_blends_and_the_selection_are_scored_on_the_candidates_folds(tmp_path: Path) -> None:
    """A candidate's out-of-fold log-odds give its fold AUCs; a blend's fold AUCs are
    those of the weighted log-odds; the generic path's choice is never below the
    scorecard's cross-validated AUC; the leave-one-fold-out selection scores on each fold
    what the rule chose on the others."""
    data = file_training_set(_file(tmp_path / "loans.csv"), "status", bad_value="bad")
    tuning = tune(data, seed=5, limit=3)
    train_rows, valid_rows, _ = split(data, 5)
    rows = np.sort(np.concatenate([train_rows, valid_rows]))
    target = data.target[rows]
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=5).split(rows, target))
    held = [part for _, part in folds]
    frame = data.frame.iloc[rows].reset_index(drop=True)
    card_log_odds = np.empty(len(rows))  # each fold's by the scorecard fitted without it
    for fit, part in folds:
        fold_card = Scorecard.fit(
            frame.iloc[fit].reset_index(drop=True), target[fit], data.categorical, seed=5
        )
        card_log_odds[part] = fold_card.log_odds(frame.iloc[part].reset_index(drop=True))
    assert tuning.scorecard_fold_aucs == [
        evaluate.auc(target[part], card_log_odds[part]) for part in held
    ]
    for tried in tuning.tried:
        recomputed = [evaluate.auc(target[part], tried.held_out[part]) for part in held]
        assert np.allclose(recomputed, tried.fold_aucs, atol=1e-9), tried.candidate.name
    report = tuning.report()
    card = report["scorecard_cv_auc"]
    for blend in tuning.choice.blends:
        assert blend.candidate == tuning.best.candidate.name
        mixed = (1 - blend.scorecard_weight) * tuning.best.held_out
        recomputed = [
            evaluate.auc(target[part], mixed[part] + blend.scorecard_weight * card_log_odds[part])
            for part in held
        ]
        assert recomputed == blend.fold_aucs
    assert report["winner_cv_auc"] == max(card, report["best_cv_auc"], report["blend"]["cv_auc"])
    selection = report["selection"]
    assert len(selection["chosen"]) == 5
    for left_out, choice in enumerate(tuning.selection):
        assert left_out not in choice.using
        assert selection["fold_aucs"][left_out] == choice.fold_auc(
            left_out, tuning.scorecard_fold_aucs
        )
    assert selection["margin_over_scorecard"] == selection["cv_auc"] - card


def _choice_of(trees: np.ndarray, card: np.ndarray, target: np.ndarray) -> Choice:
    """The winner rule on given out-of-fold log-odds of one candidate and the scorecard."""
    held = list(np.array_split(np.arange(len(target)), 5))
    tried = Tried(
        candidate=Candidate("only", {}, linear_base=False),
        fold_aucs=[evaluate.auc(target[part], trees[part]) for part in held],
        rounds=1,
        seconds=0.0,
        held_out=trees,
        blends=blends("only", trees, card, target, held),
    )
    card_aucs = [evaluate.auc(target[part], card[part]) for part in held]
    return choose([tried], card_aucs, range(5))


def test_the_rule_takes_the_scorecard_the_blend_or_the_trees_by_their_cv_auc() -> None:
    rng = np.random.default_rng(0)
    rows = 2000
    first, second = rng.normal(size=rows), rng.normal(size=rows)
    target = (rng.random(rows) < 1 / (1 + np.exp(-(first + second)))).astype(np.int64)
    noise = rng.normal(size=rows)
    # The scorecard sees the risk, the trees see noise: the scorecard wins, blends
    # with noise fall in between.
    scorecard_better = _choice_of(3 * noise, first + second, target)
    assert scorecard_better.winner == "scorecard"
    assert scorecard_better.scorecard_weight == 1.0
    # Each sees half of it: the blend beats both its parts.
    halves = _choice_of(first, second, target)
    assert halves.winner == "blend"
    assert halves.scorecard_weight == 0.5
    # The trees see it all: they win alone.
    trees_better = _choice_of(first + second, 3 * noise, target)
    assert trees_better.winner == "lightgbm"
    assert trees_better.scorecard_weight == 0.0


def test_a_scorecard_winner_scores_files_and_explains(tmp_path: Path) -> None:
    """When the scorecard wins, the model's PD is the scorecard's and its contributions
    (coefficient times WOE per feature, the intercept last) add up to the log-odds."""
    from credit.train import train

    data = file_training_set(_file(tmp_path / "loans.csv"), "status", bad_value="bad")
    result = train(data, seed=2, scorecard_weight=1.0)
    model, card = result.model, result.scorecard
    frame = data.frame.iloc[:50].reset_index(drop=True)
    x = model.matrix(frame)
    assert np.allclose(model.predict_pd(x), card.predict_pd(frame), rtol=1e-12)
    contributions = model.contributions(x)
    assert contributions.shape == (50, len(model.features) + 1)
    assert np.allclose(contributions.sum(axis=1), model.raw(x))
    assert result.report["predictor"] == "scorecard"
    assert result.report["auc"] == result.report["scorecard"]["auc"]
    saved = tmp_path / "model"
    model.save(saved)
    from credit.model import CreditModel

    loaded = CreditModel.load(saved)
    assert loaded.scorecard is not None
    assert np.array_equal(loaded.predict_pd(x), model.predict_pd(x))


def test_a_blended_model_is_the_blend_in_every_path(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    """A blend's log-odds are (1 - w) times the trees' (with their linear base) plus w
    times the scorecard's, and so are its contributions, which add up to the log-odds the
    PD comes from; the registered artifact, reloaded, scores files and explains exactly
    as the trained model does."""
    from credit.train import train

    data = file_training_set(_file(tmp_path / "loans.csv"), "status", bad_value="bad")
    result = train(data, seed=2, scorecard_weight=0.25)
    model, card = result.model, result.scorecard
    assert model.predictor == "blend"
    assert model.linear is not None
    frame = data.frame.iloc[:80].reset_index(drop=True)
    x = model.matrix(frame)
    trees = np.asarray(model.booster.predict(x, raw_score=True)) + model.linear.log_odds(x)
    assert np.allclose(model.raw(x), 0.75 * trees + 0.25 * card.log_odds(frame), atol=1e-12)
    trees_shap = np.asarray(model.booster.predict(x, pred_contrib=True))
    expected = 0.75 * (trees_shap + model.linear.contributions(x)) + 0.25 * card.contributions(
        frame, model.features
    )
    contributions = model.contributions(x)
    assert np.allclose(contributions, expected, atol=1e-12)
    assert np.allclose(contributions.sum(axis=1), model.raw(x), atol=1e-12)
    pds, reasons = explain(model, frame)
    assert np.allclose(pds, model.predict_pd(x), atol=1e-12)
    assert any(reasons)
    # The headline test figures are the blend's, with its parts beside them.
    report = result.report
    assert report["predictor"] == "blend"
    assert report["scorecard_weight"] == 0.25
    test_rows = split(data, 2)[2]
    test_frame = data.frame.iloc[test_rows].reset_index(drop=True)
    assert report["auc"] == evaluate.auc(
        data.target[test_rows], model.predict_pd(model.matrix(test_frame))
    )
    assert report["auc"] not in (report["lightgbm"]["auc"], report["scorecard"]["auc"])

    row = register(session, result, settings.resolved_data_dir, created_by="tests")
    session.commit()
    loaded = load_model(session, settings.resolved_data_dir, row.version)
    assert loaded.predictor == "blend"
    assert loaded.scorecard_weight == 0.25
    assert loaded.calibration == model.calibration
    assert np.array_equal(loaded.contributions(x), contributions)
    assert np.array_equal(loaded.predict_pd(x), model.predict_pd(x))
    loaded_pds, loaded_reasons = explain(loaded, frame)
    assert np.array_equal(loaded_pds, pds)
    assert loaded_reasons == reasons
    scored = score_file(loaded, frame)
    assert np.array_equal(scored["pd"].to_numpy(), model.predict_pd(x))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no target column", "has no target column 'outcome'"),
        ("one class only", "one class only"),
        ("too few bads", f"at least {MIN_MINORITY_ROWS}"),
    ],
)
def test_train_refuses_a_file_it_cannot_tune(
    settings: Settings, tmp_path: Path, case: str, expected: str
) -> None:
    path = tmp_path / "loans.csv"
    target = "status"
    if case == "no target column":
        _file(path)
        target = "outcome"
    elif case == "one class only":
        _file(path, bad_share=0.0)
    else:
        _file(path, rows=400, bad_share=0.08)  # about 30 bads
    result = runner.invoke(
        app,
        ["credit", "train", "--data", str(path), "--target", target, "--bad-value", "bad",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in json.loads(result.stdout)["error"]


def test_too_few_minority_rows_is_refused_before_any_training(tmp_path: Path) -> None:
    data = file_training_set(_file(tmp_path / "loans.csv", rows=400, bad_share=0.08), "status",
                             bad_value="bad")  # fmt: skip
    with pytest.raises(Invalid, match="too few bad rows"):
        tune(data)


def test_candidates_drawn_from_the_grid() -> None:
    default = candidates(1_000, 0.3, seed=1)
    assert [c.name for c in default[:2]] == ["default+linear", "default"]
    assert len(default) == 2 + 10
    assert candidates(1_000, 0.3, seed=1, drawn=10) == default
    wider = candidates(1_000, 0.3, seed=1, drawn=10_000)
    settings = [tuple(sorted(c.params.items())) for c in wider[2:]]
    assert len(settings) == len(set(settings)) == 4 * 4 * 3 * 3 * 3  # the whole grid, once
