"""Batch rescoring through the CLI (chunked, idempotent, equal to online scores) and
monitoring (PSI against training, vintages, report file)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit.models import CreditScore
from credit.monitor import flag, psi
from credit.scoring import score_enterprise
from finance.cli.main import app
from finance.core.settings import Settings
from tests.credit.builders import Province
from tests.credit.conftest import OBSERVED_UNTIL

runner = CliRunner()
AS_OF = dt.date(2025, 2, 1)


def _json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_rescore_scores_every_enterprise_once_and_matches_online(
    settings: Settings, session: Session, province: Province
) -> None:
    _json("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--promote")
    for _ in range(2):
        summary = _json("credit", "rescore", "--as-of", AS_OF.isoformat(), "--chunk-size", "150")
        assert summary["enterprises"] == len(province.usccs)
        assert summary["chunks"] == 3
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CreditScore)) == len(province.usccs)
    for uscc in province.usccs[:25]:
        stored = session.scalar(select(CreditScore).where(CreditScore.uscc == uscc))
        assert stored is not None
        online = score_enterprise(session, uscc, AS_OF, data_dir=Path(settings.resolved_data_dir))
        assert stored.score == online.score
        assert stored.pd == pytest.approx(online.pd, rel=1e-12)
        assert [r["feature"] for r in stored.reasons] == [r["feature"] for r in online.reasons]


def test_monitor_writes_a_report(settings: Settings, province: Province) -> None:
    _json("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--promote")
    report = _json(
        "credit", "monitor", "--as-of", AS_OF.isoformat(), "--observed-until",
        OBSERVED_UNTIL.isoformat(),
    )  # fmt: skip
    assert report["population"] == len(province.usccs)
    assert isinstance(report["score_psi"], float)
    assert report["score_flag"] in {"stable", "watch", "shift"}
    features = report["features"]
    assert isinstance(features, list)
    assert len(features) > 30
    vintages = report["vintages"]
    assert isinstance(vintages, list)
    assert sum(v["loans"] for v in vintages) == len(province.loan_ids)
    assert any(v["ks"] is not None for v in vintages)
    path = Path(str(report["report_path"]))
    assert path.is_file()
    assert path.with_suffix(".txt").read_text().startswith("credit model")


def test_psi_and_flags() -> None:
    even = [0.25, 0.25, 0.25, 0.25]
    assert psi(even, even) == 0
    assert flag(psi(even, [0.22, 0.28, 0.25, 0.25])) == "stable"
    assert flag(psi(even, [0.1, 0.2, 0.3, 0.4])) == "watch"
    assert flag(psi(even, [0.05, 0.05, 0.2, 0.7])) == "shift"
