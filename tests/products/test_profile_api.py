"""The enterprise's own profile (画像) over HTTP: its facts with source and as-of date,
its records by category with ID numbers masked; never another enterprise's, never a bank's."""

from __future__ import annotations

import datetime as dt

from authz.models import Role, UserKind
from products.facts import FACTS
from tests.authz.support import ID_NUMBER, World
from tests.credit.builders import DataBuilder


def test_an_enterprise_sees_every_fact_with_source_and_date(world: World) -> None:
    browser, _ = world.portal("legal_rep")
    world.clock.now = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)  # after login
    response = browser.get(f"/api/v1/enterprises/{world.uscc}/portrait")
    assert response.status_code == 200, response.text
    body = response.json()
    facts = {item["name"]: item for item in body["facts"]}
    assert list(facts) == [fact.name for fact in FACTS]
    tax = facts["tax_paid_12m"]
    # The builder's tax: VAT 100 yuan x (index + 1) plus 16 yuan a month; the 12 complete
    # months before November 2026 are indexes 12..23 (2025-11 .. 2026-10).
    assert tax["value"] == sum(100_00 * (i + 1) + 16_00 for i in range(12, 24))
    assert tax["source"] == "tax"
    assert tax["source_words"] == {"zh": "纳税信息", "en": "tax"}
    assert tax["as_of"] == "2026-10-31"
    assert facts["tax_credit_rating"]["value_zh"] == "A级"
    assert facts["city"]["value_en"] == "Zhengzhou"
    assert facts["months_in_operation"]["value"] == 12 * 11 + 8  # since 2015-03-01
    assert facts["score_band"]["value"] is None  # no credit model is active
    assert facts["penalty_records"]["record_dates"] == []
    categories = {c["name"]: c for c in body["categories"]}
    assert "*" in categories["registration"]["summary"]["legal_rep_id_number_masked"]
    assert ID_NUMBER not in response.text


def test_records_by_category_with_id_numbers_masked(world: World) -> None:
    with world.sessions.begin() as session:
        data = DataBuilder(session)
        data.row(
            "registration",
            world.uscc,
            event_date=dt.date(2025, 4, 30),
            event_type="annual_report",
            change_item="",
            name="测试企业1",
            legal_rep_name="张三",
            legal_rep_id_number=ID_NUMBER,
            founded_on=dt.date(2015, 3, 1),
            registered_capital_fen=100_000_000,
            status="active",
            division_code="410100",
            industry_division="13",
        )
        data.flush()
    browser, _ = world.portal("legal_rep")
    registration = browser.get(f"/api/v1/enterprises/{world.uscc}/portrait/records/registration")
    assert registration.status_code == 200, registration.text
    [record] = registration.json()["items"]
    assert record["legal_rep_id_number"] != ID_NUMBER
    assert "*" in record["legal_rep_id_number"]
    assert ID_NUMBER not in registration.text
    tax = browser.get(f"/api/v1/enterprises/{world.uscc}/portrait/records/tax?limit=5")
    assert tax.status_code == 200, tax.text
    assert len(tax.json()["items"]) == 5
    assert tax.json()["next_cursor"]
    unknown = browser.get(f"/api/v1/enterprises/{world.uscc}/portrait/records/gossip")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_another_enterprises_profile_is_a_404(world: World) -> None:
    browser, _ = world.portal("legal_rep")
    for path in ("portrait", "portrait/records/tax"):
        response = browser.get(f"/api/v1/enterprises/{world.other_uscc}/{path}")
        assert response.status_code == 404, response.text
    own, _ = world.portal("other_rep")
    assert own.get(f"/api/v1/enterprises/{world.other_uscc}/portrait").status_code == 200


def test_an_unauthenticated_enterprise_user_and_banks_are_refused(world: World) -> None:
    world.add_user("fresh_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=world.uscc)
    fresh, _ = world.portal("fresh_rep")
    refused = fresh.get(f"/api/v1/enterprises/{world.uscc}/portrait")
    assert refused.status_code == 403
    assert refused.json()["error"] == "enterprise_not_authenticated"
    bank, _ = world.portal("bank_admin")
    for uscc in (world.uscc, "91410100MA0000000X"):
        response = bank.get(f"/api/v1/enterprises/{uscc}/portrait")
        assert response.status_code == 403
        assert world.uscc not in response.text
    assert world.http.get(f"/api/v1/enterprises/{world.uscc}/portrait").status_code == 401


def test_ops_read_any_enterprise_and_a_city_branch_only_its_city(world: World) -> None:
    ops, _ = world.portal("ops_admin")
    assert ops.get(f"/api/v1/enterprises/{world.uscc}/portrait").status_code == 200
    assert ops.get("/api/v1/enterprises/91410100MA0000000X/portrait").status_code == 404
    branch, _ = world.portal("pds_auditor")  # Pingdingshan (410400)
    assert branch.get(f"/api/v1/enterprises/{world.other_uscc}/portrait").status_code == 200
    assert branch.get(f"/api/v1/enterprises/{world.uscc}/portrait").status_code == 404
