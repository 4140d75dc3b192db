"""``finance synth --load`` simulates financing demands through the market's own rules:
each pushed bank has an online product that fits (checked here independently of the
market's fit function), each step follows the last in time, and nothing is real."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from finance.cli.main import app
from finance.core.settings import Settings
from finance.demands.models import DemandEvent, DemandPush, FinancingDemand
from finance.enterprises.models import Enterprise
from products.models import ProductVersion

ARGS = ["synth", "--enterprises", "600", "--months", "18", "--seed", "5", "--end", "2026-09"]
HORIZON = dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.UTC)  # 1 Oct 00:00 in Beijing


def _fits(version: ProductVersion, demand: FinancingDemand, enterprise: Enterprise) -> bool:
    return (
        version.status == "online"
        and version.min_amount_fen <= demand.amount_fen <= version.max_amount_fen
        and version.min_term_months <= demand.term_months <= version.max_term_months
        and version.guarantee in ("pure_credit", demand.guarantee)
        and (not version.cities or enterprise.city_code in version.cities)
        and (not version.industries or enterprise.industry_section in version.industries)
        and (not version.sizes or enterprise.size_class in version.sizes)
    )


def test_synthetic_demands_follow_the_market_rules(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    args = [*ARGS, "--out", str(tmp_path / "out"), "--load", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["loaded"]["demands"]
    assert summary["demands"] >= 10
    assert summary["claimed"] > 0
    assert summary["loans"] + summary["declined"] > 0

    with Session(engine) as session:
        demands = list(session.scalars(select(FinancingDemand)))
        assert len(demands) == summary["demands"]
        assert all(d.synthetic for d in demands)
        assert sum(d.claimed_at is not None for d in demands) == summary["claimed"]
        assert sum(d.status == "loan" for d in demands) == summary["loans"]
        assert sum(d.status == "declined" for d in demands) == summary["declined"]
        assert sum(d.overdue_count for d in demands) == summary["overdue"]
        pushed = 0
        for demand in demands:
            enterprise = session.get(Enterprise, demand.uscc)
            assert enterprise is not None
            pushes = list(
                session.scalars(select(DemandPush).where(DemandPush.demand_id == demand.id))
            )
            pushed += len(pushes)
            for push in pushes:
                version = session.scalar(
                    select(ProductVersion).where(
                        ProductVersion.product_id == push.product_id,
                        ProductVersion.status == "online",
                    )
                )
                assert version is not None
                assert _fits(version, demand, enterprise)
                assert push.bank_id == version.bank_id
            assert len({p.bank_id for p in pushes}) == len(pushes)
            assert demand.push_round == demand.overdue_count + 1
            assert demand.posted_at < HORIZON
            if demand.claimed_at is not None:
                assert demand.claimed_bank_id in {p.bank_id for p in pushes}
                assert demand.posted_at <= demand.claimed_at < HORIZON
            if demand.contacted_at is not None:
                assert demand.claimed_at is not None
                assert demand.claimed_at <= demand.contacted_at < HORIZON
            if demand.status == "declined":
                assert demand.decline_reason is not None
            if demand.outcome_at is not None:
                assert demand.claimed_at is not None
                assert demand.claimed_at <= demand.outcome_at < HORIZON
            kinds = session.scalars(
                select(DemandEvent.kind)
                .where(DemandEvent.demand_id == demand.id)
                .order_by(DemandEvent.id)
            ).all()
            assert kinds[:2] == ["posted", "pushed"]
            assert kinds.count("overdue") == demand.overdue_count
        assert pushed > summary["demands"]

    # Loading the same province again adds no demand.
    again = json.loads(CliRunner().invoke(app, args).stdout)["loaded"]["demands"]
    assert again["demands"] == 0
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(FinancingDemand)) == len(demands)
