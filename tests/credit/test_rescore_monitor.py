"""Batch rescoring through the CLI (chunked, idempotent, equal to online scores) and
monitoring (PSI against training, vintages, report file)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from credit.models import CreditScore
from credit.monitor import flag, psi
from credit.scoring import (
    COPY_FROM,
    ScoreResult,
    chunk_bounds,
    chunk_scored,
    chunk_sizes,
    score_enterprise,
    store,
)
from finance.cli.main import app
from finance.core import migrate
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
    version = str(
        _json("credit", "train", "--observed-until", OBSERVED_UNTIL.isoformat(), "--promote")[
            "version"
        ]
    )
    bounds = chunk_bounds(session, 150)
    assert sum(chunk_sizes(bounds, len(province.usccs), 150)) == len(province.usccs)
    assert not any(chunk_scored(session, version, AS_OF, *chunk) for chunk in bounds)
    for _ in range(2):
        summary = _json("credit", "rescore", "--as-of", AS_OF.isoformat(), "--chunk-size", "150")
        assert summary["enterprises"] == len(province.usccs)
        assert summary["chunks"] == 3
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CreditScore)) == len(province.usccs)
    assert all(chunk_scored(session, version, AS_OF, *chunk) for chunk in bounds)
    # Another date or another model: not scored.
    assert not chunk_scored(session, version, AS_OF + dt.timedelta(days=1), *bounds[0])
    assert not chunk_scored(session, "another-version", AS_OF, *bounds[0])
    for uscc in province.usccs[:25]:
        stored = session.scalar(select(CreditScore).where(CreditScore.uscc == uscc))
        assert stored is not None
        online = score_enterprise(session, uscc, AS_OF, data_dir=Path(settings.resolved_data_dir))
        assert stored.score == online.score
        assert stored.pd == pytest.approx(online.pd, rel=1e-12)
        assert [r["feature"] for r in stored.reasons] == [r["feature"] for r in online.reasons]


def test_store_writes_one_row_per_key_whether_copied_or_upserted(
    engine: Engine, session: Session, province: Province
) -> None:
    """A chunk's scores none of which is stored are COPYed on PostgreSQL (no INSERT goes
    through SQLAlchemy); a chunk one of whose scores is stored already (written again, or
    redelivered while it ran) is upserted, replacing them, with the new ones added: one
    row per key either way, values as given, the reasons' Chinese phrases and missing
    values intact."""
    usccs = province.usccs[: 2 * COPY_FROM]
    reasons = [{"feature": "age_years", "zh": "企业成立时间短", "en": "young", "value": None}]
    inserts: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CREDIT_SCORES"):
            inserts.append(statement)

    def results(score: int, chosen: list[str]) -> list[ScoreResult]:
        return [
            ScoreResult(u, AS_OF, 0.1, score + i, "B", reasons, "v-copy")
            for i, u in enumerate(chosen)
        ]

    copies = engine.dialect.name == "postgresql"
    event.listen(engine, "before_cursor_execute", record)
    try:
        store(session, results(600, usccs[:COPY_FROM]))
        session.commit()
        assert len(inserts) == (0 if copies else 1)
        store(session, results(700, usccs[COPY_FROM - 10 :]))  # ten stored before
        session.commit()
        assert len(inserts) == (1 if copies else 2)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    rows = {
        r.uscc: r
        for r in session.scalars(select(CreditScore).where(CreditScore.model_version == "v-copy"))
    }
    assert sorted(rows) == sorted(usccs)
    for i, uscc in enumerate(usccs):
        expected = 600 + i if i < COPY_FROM - 10 else 700 + i - (COPY_FROM - 10)
        assert rows[uscc].score == expected
        assert rows[uscc].reasons == reasons
        assert rows[uscc].scored_at.tzinfo is not None


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


def test_the_scores_key_migration_keeps_the_rows_both_ways(
    engine: Engine, session: Session, province: Province
) -> None:
    """0600 re-keys ``credit_scores`` by (model version, date, USCC) and drops the id: the
    rows survive the upgrade and the downgrade (which numbers them again), and the upsert
    on the new key still leaves one row per key."""
    results = [
        ScoreResult(uscc, day, 0.1, 600 + i, "B", [], "v-test")
        for i, uscc in enumerate(province.usccs[:20])
        for day in (AS_OF, AS_OF + dt.timedelta(days=1))
    ]
    store(session, results)
    session.commit()
    keyed = {(r.model_version, r.as_of, r.uscc): r.score for r in results}

    def stored() -> dict[tuple[str, dt.date, str], int]:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT model_version, as_of, uscc, score FROM credit_scores")
            ).all()
        return {(v, dt.date.fromisoformat(str(d)), u): s for v, d, u, s in rows}

    migrate.downgrade(engine, "0590_credit_series")
    assert stored() == keyed
    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM credit_scores")).scalars().all()
    assert sorted(ids) == list(range(1, len(keyed) + 1))
    migrate.upgrade(engine)
    assert stored() == keyed
    assert {c["name"] for c in inspect(engine).get_columns("credit_scores")} >= {"uscc", "as_of"}
    assert "id" not in {c["name"] for c in inspect(engine).get_columns("credit_scores")}
    assert inspect(engine).get_pk_constraint("credit_scores")["constrained_columns"] == [
        "model_version",
        "as_of",
        "uscc",
    ]
    store(session, [ScoreResult(results[0].uscc, AS_OF, 0.2, 512, "C", [], "v-test")])
    session.commit()
    again = stored()
    assert len(again) == len(keyed)
    assert again[("v-test", AS_OF, results[0].uscc)] == 512
