"""The data endpoints are ordinary FastAPI routes: dependency overrides and router
dependencies apply to them, the OpenAPI document describes them, and the metrics count
them by route template."""

from __future__ import annotations

import datetime as dt

from fastapi import Depends, FastAPI, Request

from authz.clock import get_now
from finance.govdata import data_api
from tests.authz.support import BASE, World, call_data, data_token, register_client


def test_a_dependency_override_applies_to_the_data_endpoints(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    access = token["access_token"]
    app: FastAPI = world.http.app  # type: ignore[assignment]
    tax = f"/api/v1/data/enterprises/{world.uscc}/tax"
    profile = f"/api/v1/data/enterprises/{world.uscc}/profile"
    assert call_data(world, bank, access, tax).status_code == 200

    # The clock the guard decides at, overridden: a year on, the consent has expired.
    later = world.now + dt.timedelta(days=365)
    app.dependency_overrides[get_now] = lambda: later
    try:
        for path in (tax, profile):
            refused = call_data(world, bank, access, path)
            assert refused.status_code == 401, refused.text  # the access token has expired
            assert "expired" in refused.json()["detail"]
    finally:
        app.dependency_overrides.clear()
    assert call_data(world, bank, access, tax).status_code == 200


def test_a_router_dependency_applies_to_the_data_endpoints(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    access = token["access_token"]
    app: FastAPI = world.http.app  # type: ignore[assignment]
    seen: list[str] = []

    def note(request: Request) -> None:
        seen.append(request.url.path)

    app.include_router(data_api.router, prefix="/audited", dependencies=[Depends(note)])
    tax = f"/audited/api/v1/data/enterprises/{world.uscc}/tax"
    answer = call_data(world, bank, access, tax, params={"limit": "3"})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 3
    profile = f"/audited/api/v1/data/enterprises/{world.uscc}/profile"
    assert call_data(world, bank, access, profile).status_code == 200
    assert seen == [tax, profile]
    # The routes without the dependency are untouched.
    plain = call_data(world, bank, access, f"/api/v1/data/enterprises/{world.uscc}/tax")
    assert plain.status_code == 200
    assert len(seen) == 2


def test_the_openapi_document_describes_the_data_endpoints(world: World) -> None:
    document = world.http.get("/openapi.json").json()
    records = document["paths"]["/api/v1/data/enterprises/{uscc}/{category}"]["get"]
    parameters = {p["name"]: p for p in records["parameters"]}
    assert {"uscc", "category", "date_from", "date_to", "cursor", "limit", "dpop"} <= set(
        parameters
    )
    # The headers the guard reads are described, though not declared as handler parameters.
    assert parameters["authorization"]["in"] == parameters["dpop"]["in"] == "header"
    profile = document["paths"]["/api/v1/data/enterprises/{uscc}/profile"]["get"]
    assert {"authorization", "dpop"} <= {p["name"] for p in profile["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    date_from = parameters["date_from"]["schema"]
    assert {"type": "string", "format": "date"} in date_from.get("anyOf", [date_from])
    assert "/api/v1/data/enterprises/{uscc}/profile" in document["paths"]


def test_data_calls_are_counted_by_route_template(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, token["access_token"], path).status_code == 200
    metrics = world.http.get("/metrics").text
    assert 'route="/api/v1/data/enterprises/{uscc}/{category}",status="200"' in metrics


def test_the_htu_is_the_path_the_call_was_made_on(world: World) -> None:
    """A proof signed for another path of the same API is refused."""
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    other = BASE + f"/api/v1/data/enterprises/{world.uscc}/profile"
    refused = call_data(world, bank, token["access_token"], path, htu=other)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_dpop_proof"
