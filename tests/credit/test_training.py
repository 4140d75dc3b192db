"""Training on the platform's loans through the CLI, the registry round trip, promotion
and rollback of the live model, and determinism."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit.dataset import outcomes_known_until, platform_training_set
from credit.features import enterprise_features
from credit.registry import active_version, load_model, load_scorecard
from credit.scoring import score_enterprise
from credit.train import train
from finance.cli.main import app
from finance.core.settings import Settings
from finance.lending.models import Loan
from tests.credit.builders import Province
from tests.credit.conftest import OBSERVED_UNTIL

runner = CliRunner()


def _cli(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    payload: dict[str, object] = json.loads(lines[0])
    return payload


def test_train_json_report_and_registry_round_trip(
    settings: Settings, session: Session, province: Province
) -> None:
    report = _cli("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--seed", "5")
    for key in ("version", "auc", "ks", "gini", "brier", "n_train", "n_test", "oracle_auc"):
        assert report[key] is not None, key
    assert isinstance(report["auc"], float)
    assert report["auc"] > 0.6
    assert isinstance(report["oracle_auc"], float)
    assert report["n_train"] + report["n_valid"] + report["n_test"] == len(province.loan_ids)  # type: ignore[operator]
    assert report["scorecard"]["auc"] > 0.6  # type: ignore[index]
    version = str(report["version"])
    directory = settings.resolved_data_dir / "models" / version
    for name in ("model.txt", "meta.json", "scorecard.json", "report.json", "report.html"):
        assert (directory / name).is_file(), name

    # The stored model reproduces the scores the training run computed on its test set.
    data = platform_training_set(session, OBSERVED_UNTIL)
    fresh = train(data, seed=5)
    loaded = load_model(session, settings.resolved_data_dir, version)
    x = loaded.matrix(data.frame)
    order = np.argsort(data.time.to_numpy(), kind="stable")  # type: ignore[union-attr]
    test_rows = order[int(len(order) * 0.8) :]
    assert np.array_equal(loaded.predict_pd(x[test_rows]), fresh.test["pd"].to_numpy())
    scorecard = load_scorecard(settings.resolved_data_dir, version)
    test_frame = data.frame.iloc[test_rows].reset_index(drop=True)
    assert np.allclose(scorecard.predict_pd(test_frame), fresh.test["scorecard_pd"], rtol=1e-12)
    assert loaded.meta["fingerprint"] == fresh.model.meta["fingerprint"]
    assert loaded.scale.base_score == 600
    assert loaded.scale.pdo == 40


def test_training_is_deterministic_for_a_seed(session: Session, province: Province) -> None:
    data = platform_training_set(session, OBSERVED_UNTIL)
    first, second = train(data, seed=9), train(data, seed=9)
    assert first.model.booster.model_to_string() == second.model.booster.model_to_string()
    assert first.report["auc"] == second.report["auc"]


def test_promote_and_rollback_switch_the_live_model(
    settings: Settings, session: Session, province: Province
) -> None:
    until = OBSERVED_UNTIL.isoformat()
    first = str(_cli("credit", "train", "--observed-until", until, "--seed", "1")["version"])
    second = str(_cli("credit", "train", "--observed-until", until, "--seed", "2")["version"])
    uscc = province.usccs[0]
    as_of = dt.date(2025, 3, 1)

    failed = runner.invoke(app, ["credit", "score", "--uscc", uscc, "--json"])
    assert failed.exit_code == 1
    assert "no active credit model" in failed.stdout

    assert _cli("credit", "promote", first)["active"] == first
    online = score_enterprise(session, uscc, as_of, data_dir=settings.resolved_data_dir)
    assert online.model_version == first
    assert _cli("credit", "promote", second)["replaced"] == first
    session.rollback()
    # Same process, no restart: the next score uses the newly promoted model.
    online = score_enterprise(session, uscc, as_of, data_dir=settings.resolved_data_dir)
    assert online.model_version == second
    assert _cli("credit", "rollback")["active"] == first
    session.rollback()
    assert active_version(session) == first
    assert (
        score_enterprise(session, uscc, as_of, data_dir=settings.resolved_data_dir).model_version
        == first
    )

    listed = _cli("credit", "models")["models"]
    statuses = {m["version"]: m["status"] for m in listed}  # type: ignore[union-attr]
    assert statuses == {first: "active", second: "retired"}
    nothing = runner.invoke(app, ["credit", "rollback", "--json"])
    assert nothing.exit_code == 2
    assert "nothing to roll back" in nothing.stdout


def test_train_prints_version_last(settings: Settings, province: Province) -> None:
    result = runner.invoke(app, ["credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat()])
    assert result.exit_code == 0, result.output
    version = result.stdout.strip().splitlines()[-1]
    assert (settings.resolved_data_dir / "models" / version / "model.txt").is_file()
    assert "AUC" in result.stdout
    assert "oracle" in result.stdout


def test_outcomes_are_known_up_to_the_loan_books_latest_date(
    session: Session, province: Province
) -> None:
    """Without --observed-until, training takes today or, when earlier, the latest date
    the loan book records: a book loaded up to some day says nothing of the days after."""
    latest = max(
        day
        for row in session.execute(select(Loan.disbursed_on, Loan.defaulted_on, Loan.settled_on))
        for day in row
        if day is not None
    )
    today = dt.date.today()
    assert latest < today
    assert outcomes_known_until(session, today) == latest
    assert outcomes_known_until(session, dt.date(2024, 1, 1)) == dt.date(2024, 1, 1)
    report = _cli("credit", "train")
    assert report["observed_until"] == latest.isoformat()
    window = platform_training_set(session, latest)
    assert report["n_train"] + report["n_valid"] + report["n_test"] == len(window.frame)  # type: ignore[operator]


def test_an_empty_loan_book_is_known_until_today(session: Session) -> None:
    assert outcomes_known_until(session, dt.date(2030, 5, 1)) == dt.date(2030, 5, 1)
    refused = runner.invoke(app, ["credit", "train", "--json"])
    assert refused.exit_code == 2
    assert "no loans with a complete 12-month outcome by" in refused.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["credit", "train", "--observed-until", "2025-02-30"],
        ["credit", "monitor", "--observed-until", "yesterday"],
        ["credit", "monitor", "--as-of", "2025-13-01"],
        ["credit", "rescore", "--inline", "--as-of", "2025/01/01"],
        ["credit", "score", "--uscc", "91410100MA0000000X", "--as-of", "1.1.2025"],
    ],
)
def test_a_bad_date_is_a_clear_error(session: Session, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2, result.output
    option = args[-2]
    assert f"{option}: {args[-1]!r} is not a date (YYYY-MM-DD)" in result.stdout


def test_online_score_has_reasons_and_scale(
    settings: Settings, session: Session, province: Province
) -> None:
    version = str(
        _cli("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--promote")[
            "version"
        ]
    )
    session.rollback()
    riskiest = session.scalar(select(Loan.uscc).where(Loan.defaulted_on.is_not(None)))
    assert riskiest is not None
    result = score_enterprise(
        session, riskiest, dt.date(2025, 1, 1), data_dir=Path(settings.resolved_data_dir)
    )
    assert result.model_version == version
    assert 0 < result.pd < 1
    assert 300 <= result.score <= 900
    assert result.band in {"A", "B", "C", "D", "E"}
    assert 1 <= len(result.reasons) <= 4
    for reason in result.reasons:
        assert reason["zh"]
        assert reason["en"]
        assert reason["contribution"] > 0
    contributions = [r["contribution"] for r in result.reasons]
    assert contributions == sorted(contributions, reverse=True)
    # PD 1/51 (odds 50:1) is 600 points; doubling the odds adds 40.
    model = load_model(session, settings.resolved_data_dir)
    assert model.scale.points(np.array([1 / 51, 1 / 101]))[0] == 600
    assert model.scale.points(np.array([1 / 101]))[0] == 640
    assert model.scale.points(np.array([0.999999]))[0] == 300


def test_amount_applied_for_is_an_input_and_optional(
    settings: Settings, session: Session, province: Province
) -> None:
    """The 310 flow scores an application with its amount; a profile score (no
    application) uses the training median of the amount relative to revenue, and never
    gives the amount as a reason."""
    report = _cli("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--promote")
    session.rollback()
    data_dir = Path(settings.resolved_data_dir)
    model = load_model(session, data_dir)
    assert "amount_to_revenue" in model.features
    assert set(model.fill) == {"amount_to_revenue"}
    gain = model.booster.feature_importance("gain")[model.features.index("amount_to_revenue")]
    assert gain > 0  # the builders' defaults depend on it: the model uses it
    loans = platform_training_set(session, OBSERVED_UNTIL).frame["amount_to_revenue"]
    assert model.fill["amount_to_revenue"] == float(np.median(loans.iloc[: report["n_fitted"]]))  # type: ignore[misc]

    as_of = dt.date(2025, 1, 1)
    for uscc in province.usccs[:40]:
        profile = score_enterprise(session, uscc, as_of, data_dir=data_dir)
        values = enterprise_features(session, uscc, as_of)
        typical = model.predict_pd(
            model.matrix(
                {name: [value] for name, value in {**values, "amount_to_revenue": math.nan}.items()}
            )
        )
        assert profile.pd == pytest.approx(float(typical[0]), rel=1e-12)
        assert all(r["feature"] != "amount_to_revenue" for r in profile.reasons)
        small = score_enterprise(session, uscc, as_of, data_dir=data_dir, amount_fen=100)
        large = score_enterprise(session, uscc, as_of, data_dir=data_dir, amount_fen=10**13)
        # Monotone in the amount (a business fact); the PD is a sum of SHAP contributions,
        # whose order of addition differs by an ulp between rows.
        assert small.pd <= profile.pd + 1e-12
        assert profile.pd <= large.pd + 1e-12

    uscc = province.usccs[0]
    scored = _cli("credit", "score", "--uscc", uscc, "--as-of", "2025-01-01", "--amount", "1e11")
    assert scored["pd"] == pytest.approx(
        score_enterprise(session, uscc, as_of, data_dir=data_dir, amount_fen=10**13).pd
    )
