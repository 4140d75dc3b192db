"""Malformed credentials are client mistakes: refused with 400/401 problem details,
never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from tests.authz.support import BASE, World, call_data, data_token, dpop_proof, register_client


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


GARBAGE_TOKENS = [
    "",
    "abc",
    "a.b.c",
    _b64({"alg": "none", "typ": "at+jwt"}) + "." + _b64({"sub": "x"}) + ".",
    _b64({"alg": "HS256", "typ": "at+jwt"}) + "." + _b64({"sub": "x"}) + ".c2ln",
    "x" * 5000,
]
GARBAGE_PROOFS = [
    "x.y.z",
    _b64({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "oct", "k": "AAAA"}})
    + "."
    + _b64({"htm": "GET"})
    + ".AAAA",
    _b64({"typ": "dpop+jwt", "alg": "ES256", "jwk": "not a key"}) + "." + _b64([]) + ".AAAA",
    _b64({"typ": "dpop+jwt", "alg": "none"}) + "." + _b64({}) + ".",
    "one,two",
]


@pytest.mark.parametrize("token", GARBAGE_TOKENS)
def test_garbage_access_tokens(world: World, token: str) -> None:
    response = world.http.get(
        f"/api/v1/data/enterprises/{world.uscc}/tax",
        headers={"Authorization": f"DPoP {token}".encode().decode("latin-1")},
    )
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("proof", GARBAGE_PROOFS)
def test_garbage_dpop_proofs(world: World, proof: str) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    response = call_data(
        world,
        bank,
        token["access_token"],
        f"/api/v1/data/enterprises/{world.uscc}/tax",
        proof=proof,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("proof", GARBAGE_PROOFS)
def test_garbage_proofs_at_the_token_endpoint(world: World, proof: str) -> None:
    response = world.http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers={"DPoP": proof}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"grant_type": "password", "username": "a", "password": "b"},
        {
            "grant_type": "client_credentials",
            "client_assertion": "a.b.c",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
        {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"},
    ],
)
def test_garbage_token_requests(world: World, form: dict[str, str]) -> None:
    response = world.http.post("/oauth2/token", data=form)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


def test_garbage_par_and_cursor(world: World) -> None:
    assert world.http.post("/oauth2/par", data={"response_type": "code"}).status_code in (400, 401)
    bank = register_client(world)
    _consent, token = data_token(world, bank)
    response = call_data(
        world,
        bank,
        token["access_token"],
        f"/api/v1/data/enterprises/{world.uscc}/tax",
        params={"cursor": "!!!"},
    )
    assert response.status_code == 422
    stale = dpop_proof(bank.dpop_key, "GET", BASE + "/elsewhere", now=world.now)
    assert (
        call_data(
            world,
            bank,
            token["access_token"],
            f"/api/v1/data/enterprises/{world.uscc}/tax",
            proof=stale,
        ).status_code
        == 401
    )
