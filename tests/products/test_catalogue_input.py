"""Bad product terms are 422 problems that point at what is wrong: the terms' own checks,
eligibility rules and the policy (by JSON pointer, RFC 6901), and edits whose result is
inconsistent. Nothing is stored by a refused write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.products.support import Catalogue, terms


def refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == 422
    return body


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"min_amount_fen": 400_000_000}, "min_amount_fen is above max_amount_fen"),
        ({"default_amount_fen": 1}, "default_amount_fen"),
        ({"min_term_months": 24}, "min_term_months is above"),
        ({"rate_min_pct": "7.000"}, "rate_min_pct is above"),
        ({"rate_max_pct": "25"}, "rate_max_pct"),
        ({"rate_min_pct": "3.8555"}, "rate_min_pct"),
        ({"repayment_methods": []}, "repayment_methods"),
        ({"repayment_methods": ["balloon"]}, "repayment_methods"),
        ({"repayment_methods": ["bullet", "bullet"]}, "repayment_methods"),
        ({"cities": ["110100"]}, "cities"),
        ({"industries": ["Z"]}, "industries"),
        ({"sizes": ["huge"]}, "sizes"),
        ({"data_categories": ["medical"]}, "data_categories"),
        ({"fees": [{"kind": "percent", "name": "x", "percent": "50"}]}, "fees"),
        ({"fees": [{"kind": "monthly", "name": "x"}]}, "fees"),
        ({"guarantee": "credit"}, "guarantee"),
        ({"auto_decision": True, "policy": None}, "auto_decision needs a decision policy"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_terms_refused(catalogue: Catalogue, overrides: dict[str, Any], where: str) -> None:
    body = refused(
        catalogue.call(
            "zzb_staff",
            "POST",
            "/api/v1/bank/products",
            json={"code": "BAD", "terms": terms(**overrides)},
        )
    )
    assert where in body["detail"]
    assert catalogue.call("zzb_staff", "GET", "/api/v1/bank/products").json() == []


@pytest.mark.parametrize(
    ("eligibility", "pointer"),
    [
        (
            [{"fact": "months_in_operation", "op": ">=", "value": 24}, {"fact": "shoe_size"}],
            "/terms/eligibility/1",
        ),
        ([{"fact": "months_in_operation", "op": "≈", "value": 24}], "/terms/eligibility/0/op"),
        (
            [{"fact": "months_in_operation", "op": ">=", "value": "two years"}],
            "/terms/eligibility/0/value",
        ),
    ],
)
def test_bad_rule_is_pointed_at(
    catalogue: Catalogue, eligibility: list[dict[str, Any]], pointer: str
) -> None:
    body = refused(
        catalogue.call(
            "zzb_staff",
            "POST",
            "/api/v1/bank/products",
            json={"code": "BAD", "terms": terms(eligibility=eligibility)},
        )
    )
    assert any(e["pointer"].startswith(pointer) for e in body["errors"]), body


def test_bad_policy_is_pointed_at(catalogue: Catalogue) -> None:
    policy = terms()["policy"] | {"rates": {"A": "2.0", "B": "4.5"}}
    body = refused(
        catalogue.call(
            "zzb_staff",
            "POST",
            "/api/v1/bank/products",
            json={"code": "BAD", "terms": terms(policy=policy)},
        )
    )
    assert [e["pointer"] for e in body["errors"]] == ["/terms/policy/rates/A"]
    unknown = refused(
        catalogue.call(
            "zzb_staff",
            "POST",
            "/api/v1/bank/products",
            json={"code": "BAD", "terms": terms(policy={"approve_min_score": 2000})},
        )
    )
    assert any(e["pointer"] == "/terms/policy/approve_min_score" for e in unknown["errors"])


def test_rules_are_stored_in_canonical_form(catalogue: Catalogue) -> None:
    created = catalogue.create(
        policy=terms()["policy"] | {"rates": {"A": 3.85, "B": "4.5"}},
    )
    assert created["terms"]["policy"]["rates"] == {"A": "3.85", "B": "4.5"}
    assert created["terms"]["eligibility"] == terms()["eligibility"]


def test_edit_that_breaks_the_terms_is_refused_and_changes_nothing(catalogue: Catalogue) -> None:
    product_id = catalogue.create()["product_id"]
    path = f"/api/v1/bank/products/{product_id}"
    body = refused(catalogue.call("zzb_staff", "PATCH", path, json={"min_amount_fen": 900_000_000}))
    assert body["errors"][0]["pointer"] == "/terms"
    narrowed = refused(
        catalogue.call("zzb_staff", "PATCH", path, json={"rate_max_pct": "4.000"})
    )  # the policy's rates for bands B (4.5), C and D now lie outside the range
    assert [e["pointer"] for e in narrowed["errors"]] == [
        "/terms/policy/rates/B",
        "/terms/policy/rates/C",
        "/terms/policy/rates/D",
    ]
    rule = refused(
        catalogue.call(
            "zzb_staff",
            "PATCH",
            path,
            json={"eligibility": [{"fact": "x", "op": "==", "value": 1}]},
        )
    )
    assert rule["errors"][0]["pointer"].startswith("/terms/eligibility/0")
    version = catalogue.call("zzb_staff", "GET", f"{path}/versions/1").json()
    assert version["terms"]["min_amount_fen"] == 10_000_000
    assert version["terms"]["rate_max_pct"] == "6.500"


@pytest.mark.parametrize(
    "body",
    [
        {"code": "", "terms": terms()},
        {"code": "has space", "terms": terms()},
        {"code": "X" * 65, "terms": terms()},
        {"code": "X"},
        {"terms": terms()},
        [],
        "text",
    ],
)
def test_bad_create_bodies(catalogue: Catalogue, body: Any) -> None:
    refused(catalogue.call("zzb_staff", "POST", "/api/v1/bank/products", json=body))


def test_bad_transition_bodies(catalogue: Catalogue) -> None:
    product_id = catalogue.create()["product_id"]
    path = f"/api/v1/bank/products/{product_id}/versions/1/transitions"
    for body in ({}, {"event": "publish"}, {"event": "submit", "reason": ""}, {"event": 1}):
        refused(catalogue.call("zzb_staff", "POST", path, json=body))
    for bad_path in (
        f"/api/v1/bank/products/{product_id}/versions/0/transitions",
        "/api/v1/bank/products/0/versions/1/transitions",
        f"/api/v1/bank/products/{2**64}/versions/1/transitions",
    ):
        refused(catalogue.call("zzb_staff", "POST", bad_path, json={"event": "submit"}))
    missing = catalogue.call(
        "zzb_staff",
        "POST",
        f"/api/v1/bank/products/{product_id}/versions/2/transitions",
        json={"event": "submit"},
    )
    assert missing.status_code == 404
