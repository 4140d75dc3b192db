"""Every access decision of the demand market, allowed and refused: who may post, read,
claim and act on a demand, through which kind of credential."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.authz.support import BASE, consents_token, register_client
from tests.demands.support import DEMAND, Market


def _as(market: Market, user: str, method: str, path: str, **kwargs: Any) -> Any:
    browser, csrf = market.portal(user)
    return browser.request(method, path, headers={"X-CSRF-Token": csrf}, **kwargs)


def _anonymous(market: Market) -> TestClient:
    return TestClient(market.http.app, base_url=BASE)


def test_posting_needs_an_authenticated_enterprise_user(market: Market) -> None:
    assert market.post("legal_rep").status_code == 201
    unauthenticated = market.post("new_rep")
    assert unauthenticated.status_code == 409
    assert unauthenticated.json()["error"] == "enterprise_not_authenticated"
    for user in ("staff_b1", "ops_admin", "bank_admin"):
        refused = _as(market, user, "POST", "/api/v1/my/demands", json=DEMAND)
        assert refused.status_code == 403, user
    anonymous = _anonymous(market).post("/api/v1/my/demands", json=DEMAND)
    assert anonymous.status_code == 401
    browser, _ = market.portal("legal_rep")
    no_csrf = browser.post("/api/v1/my/demands", json=DEMAND)
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"] == "csrf_failed"


def test_reading_a_demand(market: Market) -> None:
    demand_id = market.posted()["id"]
    path = f"/api/v1/my/demands/{demand_id}"
    assert _as(market, "legal_rep", "GET", path).status_code == 200
    assert _as(market, "new_rep", "GET", path).status_code == 200  # same enterprise
    assert _as(market, "other_rep", "GET", path).status_code == 404
    assert _as(market, "staff_b1", "GET", path).status_code == 403
    assert _anonymous(market).get(path).status_code == 401


def test_withdrawing_is_for_the_posting_enterprise_only(market: Market) -> None:
    world = market.world
    demand_id = market.posted()["id"]
    path = f"/api/v1/my/demands/{demand_id}/withdraw"
    body = {"reason": "found the money elsewhere"}
    assert _as(market, "other_rep", "POST", path, json=body).status_code == 404
    for user in ("staff_b1", "bank_admin", "ops_admin", "zz_auditor"):
        assert _as(market, user, "POST", path, json=body).status_code == 403, user
    assert _anonymous(market).post(path, json=body).status_code == 401
    token = consents_token(world, register_client(world))  # B1's OAuth client
    bearer = world.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    browser, _ = market.portal("legal_rep")
    no_csrf = browser.post(path, json=body)
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"] == "csrf_failed"
    # A user of the same enterprise must be authenticated, as for posting.
    unauthenticated = _as(market, "new_rep", "POST", path, json=body)
    assert unauthenticated.status_code == 409
    assert unauthenticated.json()["error"] == "enterprise_not_authenticated"
    assert browser.get(f"/api/v1/my/demands/{demand_id}").json()["status"] == "open"

    assert _as(market, "legal_rep", "POST", path, json=body).status_code == 200
    # The other enterprise's own demand is its to withdraw, and not legal_rep's.
    theirs = market.posted(user="other_rep")["id"]
    theirs_path = f"/api/v1/my/demands/{theirs}/withdraw"
    assert _as(market, "legal_rep", "POST", theirs_path).status_code == 404
    assert _as(market, "other_rep", "POST", theirs_path).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/bank/demands", None),
        ("GET", "/api/v1/bank/demands/{id}", None),
        ("POST", "/api/v1/bank/demands/{id}/claim", None),
        ("POST", "/api/v1/bank/demands/{id}/contact", {}),
        ("POST", "/api/v1/bank/demands/{id}/outcome", {"outcome": "declined", "reason": "other"}),
    ],
)
def test_bank_endpoints_refuse_everyone_but_banks(
    market: Market, method: str, path: str, body: dict[str, str] | None
) -> None:
    demand_id = market.posted()["id"]
    url = path.format(id=demand_id)
    if url.endswith(("contact", "outcome")):
        market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand_id}/claim")
    for user in ("legal_rep", "ops_admin"):
        assert _as(market, user, method, url, json=body).status_code == 403, user
    assert _anonymous(market).request(method, url, json=body).status_code == 401
    forged = _anonymous(market).request(
        method, url, json=body, headers={"Authorization": "Bearer nope"}
    )
    assert forged.status_code == 401
    assert "WWW-Authenticate" in forged.headers
    assert market.bank_call("B1", method, url, json=body).status_code == 200


def test_a_bank_acts_through_its_oauth_client(market: Market) -> None:
    world = market.world
    demand_id = market.posted()["id"]
    token = consents_token(world, register_client(world))  # B1's client
    auth = {"Authorization": f"Bearer {token}"}
    queue = world.http.get("/api/v1/bank/demands", headers=auth)
    assert queue.status_code == 200
    assert [d["id"] for d in queue.json()["items"]] == [demand_id]
    claimed = world.http.post(f"/api/v1/bank/demands/{demand_id}/claim", headers=auth)
    assert claimed.status_code == 200
    assert claimed.json()["claimed_by_you"] is True
    # Its staff see the claim as their bank's, recorded as the client's.
    seen = market.bank_call("B1", "GET", f"/api/v1/bank/demands/{demand_id}").json()
    assert seen["claimed_by_you"] is True
    browser, _ = market.portal("legal_rep")
    events = browser.get(f"/api/v1/my/demands/{demand_id}").json()["events"]
    assert events[-1]["actor"].startswith("client:")


def test_a_suspended_client_is_refused(market: Market) -> None:
    world = market.world
    demand_id = market.posted()["id"]
    client = register_client(world)
    token = consents_token(world, client)
    ops, csrf = world.portal("ops_admin")
    suspended = ops.post(
        f"/api/v1/clients/{client.client_id}/suspend", headers={"X-CSRF-Token": csrf}
    )
    assert suspended.status_code == 200, suspended.text
    refused = world.http.post(
        f"/api/v1/bank/demands/{demand_id}/claim", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401


def test_ops_endpoints_take_ops_users_only(market: Market) -> None:
    demand_id = market.posted()["id"]
    for path in ("/api/v1/ops/demands", f"/api/v1/ops/demands/{demand_id}"):
        assert _as(market, "ops_admin", "GET", path).status_code == 200
        assert _as(market, "zz_auditor", "GET", path).status_code == 200
        for user in ("legal_rep", "staff_b1", "bank_admin"):
            assert _as(market, user, "GET", path).status_code == 403, (user, path)
        assert _anonymous(market).get(path).status_code == 401
    # A city branch sees its own city's enterprises only.
    assert _as(market, "pds_auditor", "GET", f"/api/v1/ops/demands/{demand_id}").status_code == 404
    listed = _as(market, "pds_auditor", "GET", "/api/v1/ops/demands").json()["items"]
    assert listed == []
