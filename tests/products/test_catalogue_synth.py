"""``finance synth --load`` publishes the synthetic catalogue: 141 products of the 27
banks, each an online version with its review steps, terms that pass the same checks as a
bank's, rules and policies the rule language accepts; the loan book's loans point at
them, and loading again adds nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from finance.app import create_app
from finance.cli.main import app
from finance.core.settings import Settings
from finance.institutions.models import Bank
from finance.lending.models import Loan
from products.models import (
    LoanProduct,
    ProductTransition,
    ProductVersion,
    ProductVersionTarget,
)
from products.policy import check_against_terms, parse_policy
from products.rules import parse_eligibility
from products.service import TARGET_FIELDS, product_terms, terms_from

ARGS = ["synth", "--enterprises", "60", "--months", "14", "--seed", "3", "--end", "2026-09"]


def test_synthetic_catalogue(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--load", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loaded"]["products"] == 141
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Bank)) == 27
        versions = session.scalars(select(ProductVersion)).all()
        assert len(versions) == 141
        assert {(v.status, v.number, v.synthetic) for v in versions} == {("online", 1, True)}
        assert session.scalar(select(func.count()).select_from(LoanProduct)) == 141
        per_bank = Counter(v.bank_id for v in versions)
        assert len(per_bank) == 27
        steps = Counter(
            tuple(
                session.scalars(
                    select(ProductTransition.event)
                    .where(ProductTransition.version_id == v.id)
                    .order_by(ProductTransition.id)
                )
            )
            for v in versions
        )
        assert steps == {("create", "submit", "approve"): 141}
        for version in versions:
            terms = terms_from(version)  # the same checks as a bank's terms
            parse_eligibility(terms.eligibility)
            assert terms.policy is not None
            check_against_terms(parse_policy(terms.policy), product_terms(terms))
            assert len(terms.eligibility) >= 4
            targets = {
                (dimension, value)
                for dimension, value in session.execute(
                    select(ProductVersionTarget.dimension, ProductVersionTarget.value).where(
                        ProductVersionTarget.version_id == version.id
                    )
                )
            }
            assert targets == {
                (dimension.value, str(value))
                for dimension, field in TARGET_FIELDS.items()
                for value in getattr(terms, field) or ["*"]
            }
        pure_credit = [v for v in versions if v.guarantee == "pure_credit"]
        assert len(pure_credit) / len(versions) > 0.7
        assert all(v.auto_decision for v in pure_credit if v.fees == [])
        assert 0 < sum(bool(v.cities) for v in versions) < 141  # local banks lend locally
        # Every loan of the book points at a product that has an online version.
        orphans = session.scalar(
            select(func.count())
            .select_from(Loan)
            .where(
                ~Loan.product_id.in_(
                    select(ProductVersion.product_id).where(ProductVersion.status == "online")
                )
            )
        )
        loans = session.scalar(select(func.count()).select_from(Loan))
        assert loans
        assert orphans == 0
    with TestClient(create_app(settings)) as http:
        seen = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = http.get("/api/v1/products", params=params).json()
            seen += [item["product_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 141
    again = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--load", "--json"])
    assert json.loads(again.stdout)["loaded"]["products"] == 0
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ProductVersion)) == 141
