"""Who may do what with products, each decision both ways: a bank (staff session or its
OAuth client) reaches only its own products (another bank's are 404), ops review what is
past draft (a city branch only what is offered in its city), the catalogue shows only
what is online, to anyone."""

from __future__ import annotations

import pytest

from tests.authz.support import consent_terms, register_client
from tests.products.support import Catalogue, client_token, terms


@pytest.mark.parametrize("user", ["zzb_admin", "zzb_staff"])
def test_bank_admin_and_staff_create_their_banks_products(catalogue: Catalogue, user: str) -> None:
    created = catalogue.create(user)
    assert created["bank_id"] == catalogue.banks["ZZB"]
    assert (created["number"], created["status"]) == (1, "draft")
    assert created["transitions"][0]["actor"] == f"user:{catalogue.users[user].id}"


@pytest.mark.parametrize(
    ("user", "status"),
    [
        (None, 401),
        ("legal_rep", 403),
        ("ops_admin", 403),
        ("zz_officer", 403),
    ],
)
def test_others_cannot_create_products(catalogue: Catalogue, user: str | None, status: int) -> None:
    response = catalogue.call(
        user, "POST", "/api/v1/bank/products", json={"code": "X", "terms": terms()}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert catalogue.call("zzb_staff", "GET", "/api/v1/bank/products").json() == []


def test_state_change_without_csrf_token_is_refused(catalogue: Catalogue) -> None:
    browser, _ = catalogue.portal("zzb_staff")
    response = browser.post("/api/v1/bank/products", json={"code": "X", "terms": terms()})
    assert response.status_code == 403


def test_another_banks_product_is_not_found(catalogue: Catalogue) -> None:
    product_id = catalogue.create("zzb_staff")["product_id"]
    paths = [
        ("GET", f"/api/v1/bank/products/{product_id}", None),
        ("GET", f"/api/v1/bank/products/{product_id}/versions/1", None),
        ("PATCH", f"/api/v1/bank/products/{product_id}", {"name": "偷改"}),
        ("POST", f"/api/v1/bank/products/{product_id}/versions/1/transitions", {"event": "submit"}),
    ]
    for method, path, body in paths:
        refused = catalogue.call("lyb_staff", method, path, json=body)
        assert refused.status_code == 404, (method, path, refused.text)
        assert refused.json()["title"] == "Not found"
    assert catalogue.call("lyb_staff", "GET", "/api/v1/bank/products").json() == []
    # The same calls by its own bank succeed (the submit last).
    for method, path, body in paths:
        allowed = catalogue.call("zzb_admin", method, path, json=body)
        assert allowed.status_code == 200, (method, path, allowed.text)
    mine = catalogue.call("zzb_staff", "GET", "/api/v1/bank/products").json()
    assert [(v["product_id"], v["status"]) for v in mine] == [(product_id, "submitted")]


def test_codes_are_unique_per_bank(catalogue: Catalogue) -> None:
    catalogue.create("zzb_staff", "SAME")
    again = catalogue.call(
        "zzb_admin", "POST", "/api/v1/bank/products", json={"code": "SAME", "terms": terms()}
    )
    assert again.status_code == 409
    assert catalogue.create("lyb_staff", "SAME")["bank_id"] == catalogue.banks["LYB"]


def test_bank_oauth_client_manages_its_banks_products(catalogue: Catalogue) -> None:
    zzb = register_client(catalogue, admin="zzb_admin")
    headers = {"Authorization": f"Bearer {client_token(catalogue, zzb, 'products')}"}
    created = catalogue.http.post(
        "/api/v1/bank/products", json={"code": "API-1", "terms": terms()}, headers=headers
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["product_id"]
    assert created.json()["transitions"][0]["actor"] == f"client:{zzb.client_id}"
    submitted = catalogue.http.post(
        f"/api/v1/bank/products/{product_id}/versions/1/transitions",
        json={"event": "submit"},
        headers=headers,
    )
    assert submitted.status_code == 200, submitted.text
    # Staff of the same bank see it; another bank's product is out of the client's reach.
    staff_view = catalogue.call("zzb_staff", "GET", f"/api/v1/bank/products/{product_id}")
    assert staff_view.status_code == 200
    other = catalogue.create("lyb_staff", "LYB-1")["product_id"]
    assert catalogue.http.get(f"/api/v1/bank/products/{other}", headers=headers).status_code == 404
    bad = catalogue.http.get("/api/v1/bank/products", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_products_need_the_products_scope(catalogue: Catalogue) -> None:
    zzb = register_client(catalogue, admin="zzb_admin")
    consents_only = {"Authorization": f"Bearer {client_token(catalogue, zzb, 'consents')}"}
    refused = catalogue.http.post(
        "/api/v1/bank/products", json={"code": "API-1", "terms": terms()}, headers=consents_only
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert catalogue.http.get("/api/v1/bank/products", headers=consents_only).status_code == 403
    both = {"Authorization": f"Bearer {client_token(catalogue, zzb, 'consents products')}"}
    assert catalogue.http.get("/api/v1/bank/products", headers=both).status_code == 200
    # And the other way round: a products token does not reach the consent API.
    products_only = {"Authorization": f"Bearer {client_token(catalogue, zzb, 'products')}"}
    assert catalogue.http.get("/api/v1/bank/products", headers=products_only).status_code == 200
    consent = catalogue.http.post(
        "/api/v1/consents", json=consent_terms(catalogue, catalogue.uscc), headers=products_only
    )
    assert consent.status_code == 403
    assert (
        catalogue.http.post(
            "/api/v1/consents", json=consent_terms(catalogue, catalogue.uscc), headers=both
        ).status_code
        == 201
    )
    unknown = catalogue.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "products admin",
            **zzb.assertion(catalogue),
        },
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_scope"


def test_ops_see_versions_past_draft(catalogue: Catalogue) -> None:
    product_id = catalogue.create()["product_id"]
    path = f"/api/v1/ops/products/{product_id}"
    assert catalogue.call("ops_admin", "GET", path).status_code == 404
    assert catalogue.call("ops_admin", "GET", "/api/v1/ops/products").json() == []
    catalogue.fire("zzb_staff", product_id, 1, "submit")
    assert catalogue.call("ops_admin", "GET", path).status_code == 200
    queue = catalogue.call("ops_admin", "GET", "/api/v1/ops/products").json()
    assert [(v["product_id"], v["allowed_events"]) for v in queue] == [
        (product_id, ["approve", "reject"])
    ]


@pytest.mark.parametrize("user", ["zzb_staff", "legal_rep", None])
def test_only_ops_reach_the_review_endpoints(catalogue: Catalogue, user: str | None) -> None:
    product_id = catalogue.create()["product_id"]
    catalogue.fire("zzb_staff", product_id, 1, "submit")
    listing = catalogue.call(user, "GET", "/api/v1/ops/products")
    assert listing.status_code == (401 if user is None else 403)
    approve = catalogue.call(
        user,
        "POST",
        f"/api/v1/ops/products/{product_id}/versions/1/transitions",
        json={"event": "approve"},
    )
    assert approve.status_code == (401 if user is None else 403)


def test_city_branch_sees_products_offered_in_its_city(catalogue: Catalogue) -> None:
    luoyang = catalogue.create("zzb_staff", "LY", cities=["410300"])["product_id"]
    pingdingshan = catalogue.create("zzb_staff", "PDS", cities=["410400", "410100"])["product_id"]
    province = catalogue.create("lyb_staff", "ALL", cities=[])["product_id"]
    for product_id, user in (
        (luoyang, "zzb_staff"),
        (pingdingshan, "zzb_staff"),
        (province, "lyb_staff"),
    ):
        assert catalogue.fire(user, product_id, 1, "submit").status_code == 200

    def seen(user: str) -> set[int]:
        return {v["product_id"] for v in catalogue.call(user, "GET", "/api/v1/ops/products").json()}

    assert seen("ops_admin") == {luoyang, pingdingshan, province}
    assert seen("pds_officer") == {pingdingshan, province}
    assert seen("zz_officer") == {pingdingshan, province}
    # Outside its city: not found, and no review.
    assert (
        catalogue.call("pds_officer", "GET", f"/api/v1/ops/products/{luoyang}").status_code == 404
    )
    assert catalogue.fire("pds_officer", luoyang, 1, "reject", "x").status_code == 404
    assert catalogue.fire("zz_officer", luoyang, 1, "approve").status_code == 404
    # Inside it: reviewed.
    assert catalogue.fire("zz_officer", pingdingshan, 1, "approve").status_code == 200
    assert catalogue.fire("pds_officer", province, 1, "reject", "rates too high").status_code == 200
    assert catalogue.fire("ops_admin", luoyang, 1, "approve").status_code == 200


def test_catalogue_shows_only_online_versions_to_anyone(catalogue: Catalogue) -> None:
    draft = catalogue.create("zzb_staff", "D")["product_id"]
    submitted = catalogue.create("zzb_staff", "S")["product_id"]
    catalogue.fire("zzb_staff", submitted, 1, "submit")
    online = catalogue.online("lyb_staff", "O")
    for user in (None, "legal_rep", "zzb_staff", "ops_admin"):
        page = catalogue.call(user, "GET", "/api/v1/products").json()
        assert [item["product_id"] for item in page["items"]] == [online]
        assert catalogue.call(user, "GET", f"/api/v1/products/{online}").status_code == 200
        for hidden in (draft, submitted):
            assert catalogue.call(user, "GET", f"/api/v1/products/{hidden}").status_code == 404
