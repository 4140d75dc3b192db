"""The data-call fast path (``DataCallRoutes``) answers exactly as the FastAPI routes it
stands in front of: the same statuses, bodies and headers, for calls that succeed and
calls that fail, on an app with the fast path and one without it sharing one database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from finance.app import create_app
from finance.core import db
from finance.core.settings import Settings
from finance.govdata.data_api import DataCallRoutes
from tests.authz.support import BASE, BankClientKeys, World, data_token, dpop_proof, register_client


@pytest.fixture
def routed(world: World, settings: Settings) -> Iterator[TestClient]:
    """The same platform without the fast path: every request goes through the router."""
    db._engine_for.cache_clear()
    app = create_app(settings.model_copy(update={"public_url": BASE}))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not DataCallRoutes]
    app.state.clock = world.clock
    with TestClient(app, base_url=BASE) as http:
        yield http
    app.state.engine.dispose()


def _comparable(response: Any) -> tuple[int, Any, str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return (
        response.status_code,
        body,
        response.headers.get("content-type"),
        response.headers.get("www-authenticate"),
    )


def _both(
    world: World,
    routed: TestClient,
    bank: BankClientKeys,
    access: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    proofs: int = 1,
    method: str = "GET",
) -> tuple[Any, Any]:
    answers = []
    for http in (world.http, routed):
        headers: list[tuple[str, str]] = [("Authorization", f"DPoP {access}")]
        for _ in range(proofs):
            proof = dpop_proof(
                bank.dpop_key, method, BASE + path, now=world.now, access_token=access
            )
            headers.append(("DPoP", proof))
        answers.append(http.request(method, path, params=params, headers=headers))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    ("suffix", "params", "proofs", "status"),
    [
        ("tax", {"limit": "5"}, 1, 200),
        ("tax", {"date_from": "2026-01-01", "date_to": "2026-06-30"}, 1, 200),
        ("tax", {"date_from": "2025-01-01"}, 1, 403),
        ("profile", None, 1, 200),
        ("tax", {"date_from": "not-a-date"}, 1, 422),
        ("tax", {"limit": "0"}, 1, 422),
        ("tax", {"limit": "many"}, 1, 422),
        ("tax", {"cursor": "!!!"}, 1, 422),
        ("no_such_category", None, 1, 404),
        ("tax", None, 0, 401),
        ("tax", None, 2, 401),
        ("tax", {"access_token": "x"}, 1, 400),
    ],
)
def test_the_fast_path_answers_as_the_router_does(
    world: World,
    routed: TestClient,
    suffix: str,
    params: dict[str, str] | None,
    proofs: int,
    status: int,
) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    path = f"/api/v1/data/enterprises/{world.uscc}/{suffix}"
    fast, slow = _both(
        world, routed, bank, token["access_token"], path, params=params, proofs=proofs
    )
    assert fast.status_code == status, fast.text
    assert _comparable(fast) == _comparable(slow)
    assert fast.headers["x-request-id"]


def test_other_methods_and_paths_go_on_to_the_router(world: World, routed: TestClient) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    access = token["access_token"]
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    fast, slow = _both(world, routed, bank, access, path, method="POST")
    assert fast.status_code == 405
    assert _comparable(fast) == _comparable(slow)
    deeper = f"/api/v1/data/enterprises/{world.uscc}/tax/extra"
    fast, slow = _both(world, routed, bank, access, deeper)
    assert fast.status_code == 404
    assert _comparable(fast) == _comparable(slow)


def test_fast_path_calls_are_counted_by_route_template(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    access = token["access_token"]
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    proof = dpop_proof(bank.dpop_key, "GET", BASE + path, now=world.now, access_token=access)
    response = world.http.get(path, headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert response.status_code == 200
    metrics = world.http.get("/metrics").text
    assert 'route="/api/v1/data/enterprises/{uscc}/{category}",status="200"' in metrics
