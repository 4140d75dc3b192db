"""``finance credit train --data FILE.csv`` and ``finance credit score --data``: a bank's
own file with string categoricals and missing values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from finance.cli.main import app
from finance.core.settings import Settings

runner = CliRunner()


def _bank_file(path: Path, rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, rows)
    overdue = rng.poisson(0.5, rows).astype(float)
    region = rng.choice(["郑州", "洛阳", "南阳", "开封"], rows)
    segment = rng.choice(["retail", "manufacturing", "farming"], rows)
    logit = -2.5 + 0.9 * overdue - 0.8 * (np.log(income) - 10) + (region == "南阳") * 1.0
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "applied": pd.date_range("2021-01-01", periods=rows, freq="6h").strftime("%Y-%m-%d"),
            "income": income.round(2),
            "overdue_count": overdue,
            "region": region,
            "segment": segment,
            "status": np.where(bad, "bad", "good"),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "region"] = None
    frame.to_csv(path, index=False)
    return frame


def test_train_and_score_a_csv_file(settings: Settings, tmp_path: Path) -> None:
    training_file = tmp_path / "history.csv"
    _bank_file(training_file)
    result = runner.invoke(
        app,
        [
            "credit", "train", "--data", str(training_file), "--target", "status",
            "--bad-value", "bad", "--time-column", "applied", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_train"] == 1800
    assert report["n_test"] == 600
    assert report["auc"] > 0.7
    assert report["oracle_auc"] is None
    assert report["test_period"][0] >= "2022-"  # out of time: the newest rows are the test
    meta = json.loads(
        (settings.resolved_data_dir / "models" / report["version"] / "meta.json").read_text()
    )
    assert meta["categories"]["region"] == sorted(["郑州", "洛阳", "南阳", "开封"])
    assert set(meta["categorical"]) == {"region", "segment"}

    new_applications = _bank_file(tmp_path / "new.csv", rows=50, seed=1).drop(columns="status")
    new_applications.loc[3, "region"] = "信阳"  # a region never seen in training
    new_applications.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scores.csv"
    scored = runner.invoke(
        app,
        [
            "credit", "score", "--model", report["version"], "--data", str(tmp_path / "new.csv"),
            "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["rows"] == 50
    output = pd.read_csv(out)
    assert list(output.columns) == [*new_applications.columns, "pd", "score"]
    assert output["applied"].tolist() == new_applications["applied"].tolist()
    assert output["pd"].between(0, 1).all()
    assert output["score"].between(300, 900).all()
    riskier = output["overdue_count"] >= 3
    assert output.loc[riskier, "pd"].mean() > output.loc[~riskier, "pd"].mean()


def test_a_target_that_is_not_binary_needs_bad_value(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    _bank_file(path, rows=200)
    result = runner.invoke(
        app, ["credit", "train", "--data", str(path), "--target", "status", "--json"]
    )
    assert result.exit_code == 2
    assert "--bad-value" in json.loads(result.stdout)["error"]
    missing = runner.invoke(
        app, ["credit", "score", "--data", str(path), "--out", "x.csv", "--json"]
    )
    assert missing.exit_code == 1
    assert "no active credit model" in json.loads(missing.stdout)["error"]
