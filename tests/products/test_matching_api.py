"""Matching over HTTP: the enterprise (and ops) see every online product evaluated with
the active credit model; banks cannot call it; another enterprise's matches are a 404,
and nothing of another enterprise shows in an enterprise's matches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from products.models import LoanProduct, ProductVersion
from products.schemas import VersionTerms
from products.service import publish_synthetic_versions
from tests.authz.support import World
from tests.credit.builders import DataBuilder

NOW = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
EASY = {  # approves any score: the product's numbers are checked exactly
    "approve_min_score": 300,
    "refer_min_score": 300,
    "amount": {"terms": [{"fact": "tax_paid_12m", "times": "10"}]},
    "rates": {b: "4.35" for b in "ABCDE"},
}


def terms(name: str, **changes: Any) -> VersionTerms:
    values: dict[str, Any] = {
        "name": name,
        "guarantee": "pure_credit",
        "min_amount_fen": 1_000_000,
        "max_amount_fen": 500_000_000,
        "default_amount_fen": 10_000_000,
        "min_term_months": 6,
        "max_term_months": 36,
        "rate_min_pct": Decimal("3.45"),
        "rate_max_pct": Decimal("6"),
        "repayment_methods": ["equal_instalment", "interest_only"],
        "fees": [{"kind": "percent", "name": "服务费", "percent": "1"}],
        "eligibility": [{"fact": "months_in_operation", "op": ">=", "value": 24}],
        "policy": EASY,
    }
    return VersionTerms.model_validate(values | changes)


def publish(world: World, *catalogue: tuple[str, VersionTerms]) -> None:
    with world.sessions.begin() as session:
        items = []
        for code, version_terms in catalogue:
            product = LoanProduct(bank_id=world.bank_id, code=code)
            session.add(product)
            session.flush()
            items.append((product.id, world.bank_id, version_terms))
        publish_synthetic_versions(session.connection(), items, NOW)


@pytest.fixture
def offers(world: World, live_model: str) -> World:
    publish(
        world,
        ("EASY", terms("易贷")),
        ("YOUNG", terms("新企贷", eligibility=[])),
        (
            "OLD",
            terms(
                "老店贷",
                eligibility=[
                    {"fact": "months_in_operation", "op": ">=", "value": 240},
                    {"fact": "penalty_records", "within_months": 24, "op": "<=", "value": 0},
                ],
            ),
        ),
        ("LUOYANG", terms("洛阳贷", cities=["410300"])),
        ("MANUAL", terms("人工贷", policy=None)),
        (
            "STRICT",
            terms(
                "严审贷",
                policy=EASY | {"approve_min_score": 900, "refer_min_score": 300},
            ),
        ),
    )
    world.clock.now = NOW
    return world


def get_matches(world: World, user: str, uscc: str, query: str = "") -> Any:
    browser, _ = world.portal(user)
    world.clock.now = NOW
    return browser.get(f"/api/v1/enterprises/{uscc}/matches{query}")


def test_an_enterprise_sees_eligible_products_ranked_and_the_rest_explained(
    offers: World,
) -> None:
    world = offers
    response = get_matches(world, "legal_rep", world.uscc, "?amount_fen=20000000&term_months=12")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["uscc"] == world.uscc
    assert body["score"]["band"] in "ABCDE"
    eligible = [m["code"] for m in body["eligible"]]
    assert set(eligible) == {"EASY", "YOUNG", "MANUAL", "STRICT"}
    # Automatic approval first, manual review after (no policy, or the score short of 900).
    assert set(eligible[:2]) == {"EASY", "YOUNG"}
    assert {m["approval"] for m in body["eligible"][2:]} == {"review"}

    easy = next(m for m in body["eligible"] if m["code"] == "EASY")
    estimate = easy["estimate"]
    # Tax paid over the 12 months before November 2026 (the world's builder), times 10.
    tax = sum(100_00 * (i + 1) + 16_00 for i in range(12, 24))
    assert estimate["amount_fen"] == min(tax * 10 // 10_000 * 10_000, 20_000_000)
    assert estimate["annual_rate_pct"] == "4.35"
    assert Decimal(estimate["apr_pct"]) > Decimal("4.35")  # the 1% fee
    assert estimate["method"] == "equal_instalment"
    assert estimate["term_months"] == 12
    assert len(estimate["first_instalments"]) == 3
    assert next(m for m in body["eligible"] if m["code"] == "MANUAL")["estimate"] is None

    ineligible = {m["code"]: m for m in body["ineligible"]}
    assert set(ineligible) == {"OLD", "LUOYANG"}
    [old] = ineligible["OLD"]["failed_rules"]  # no penalties: only the age rule fails
    assert old["zh"] == "经营月数不低于240个月"
    assert old["en"] == "months in operation at least 240 months"
    assert old["yours_zh"] == "经营月数：140个月"
    assert ineligible["LUOYANG"]["failed_rules"][0]["zh"] == "所在地市为洛阳市"


def test_the_method_asked_for_and_the_default_when_a_product_lacks_it(offers: World) -> None:
    response = get_matches(offers, "legal_rep", offers.uscc, "?method=interest_only")
    easy = next(m for m in response.json()["eligible"] if m["code"] == "EASY")
    assert easy["estimate"]["method"] == "interest_only"
    assert easy["estimate"]["term_months"] == 36  # the longest by default
    assert easy["estimate"]["first_instalments"][0]["principal_fen"] == 0
    bullet = get_matches(offers, "legal_rep", offers.uscc, "?method=bullet")
    easy = next(m for m in bullet.json()["eligible"] if m["code"] == "EASY")
    assert easy["estimate"]["method"] == "equal_instalment"


@pytest.mark.parametrize(
    "query", ["?amount_fen=0", "?term_months=0", "?method=monthly", "?preview_months=x"]
)
def test_bad_matching_input_is_a_422_problem(offers: World, query: str) -> None:
    response = get_matches(offers, "legal_rep", offers.uscc, query)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_banks_cannot_match_and_other_enterprises_are_a_404(offers: World) -> None:
    world = offers
    bank = get_matches(world, "bank_admin", world.uscc)
    assert bank.status_code == 403
    assert "eligible" not in bank.text
    assert get_matches(world, "legal_rep", world.other_uscc).status_code == 404
    assert get_matches(world, "other_rep", world.other_uscc).status_code == 200
    assert get_matches(world, "ops_admin", world.uscc).status_code == 200
    assert get_matches(world, "pds_auditor", world.uscc).status_code == 404
    assert get_matches(world, "pds_auditor", world.other_uscc).status_code == 200


def test_nothing_of_another_enterprise_changes_or_shows_in_the_matches(offers: World) -> None:
    world = offers
    before = get_matches(world, "legal_rep", world.uscc).json()
    # The other enterprise gains penalties and a large tax history.
    with world.sessions.begin() as session:
        data = DataBuilder(session)
        for number in range(3):
            data.row(
                "penalties",
                world.other_uscc,
                decision_number=f"X{number}",
                decided_on=dt.date(2026, 3, 1),
                authority="a",
                reason="r",
                penalty_type="fine",
            )
        data.flush()
    after = get_matches(world, "legal_rep", world.uscc)
    assert after.json() == before
    assert world.other_uscc not in after.text


def test_matching_needs_an_active_model(world: World) -> None:
    response = get_matches(world, "legal_rep", world.uscc)
    assert response.status_code == 503
    assert "credit model" in response.json()["detail"]


def test_an_edited_version_is_matched_by_its_new_terms(offers: World) -> None:
    world = offers
    first = get_matches(world, "legal_rep", world.uscc).json()
    assert "YOUNG" in [m["code"] for m in first["eligible"]]
    with world.sessions.begin() as session:
        session.execute(
            update(ProductVersion)
            .where(ProductVersion.name == "新企贷")
            .values(
                eligibility=[{"fact": "insured_employees", "op": ">=", "value": 1}],
                updated_at=NOW + dt.timedelta(minutes=1),
            )
        )
    second = get_matches(world, "legal_rep", world.uscc).json()
    young = next(m for m in second["ineligible"] if m["code"] == "YOUNG")
    assert young["failed_rules"][0]["yours_en"] == "insured employees: no data"
