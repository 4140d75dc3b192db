"""FAPI 2.0 Security Profile requirements beyond the building blocks the other suites
cover: PAR requires ``redirect_uri`` (§5.3.2.2 item 6); JWTs the server receives (DPoP
proofs at the token endpoint and on data calls, client assertions) are accepted with an
``iat`` up to 10 s ahead and refused beyond (§5.3.2.1 item 14); refresh tokens do not
rotate (item 10); the authorization response is a 303 (item 11). Each requirement is
tested beside the request made right, and the refresh and PAR rules once more through
Authlib's own OAuth client."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from sqlalchemy import select

from authz.models import IssuedToken, LedgerEntry
from tests.authz.support import (
    ASSERTION_TYPE,
    BASE,
    REDIRECT_URI,
    TOKEN_URL,
    BankClientKeys,
    ShortLivedPrivateKeyJWT,
    World,
    approve,
    call_data,
    client_assertion,
    create_consent,
    data_token,
    dpop_proof,
    new_key,
    push,
    redirect_params,
    register_client,
)


def tax(world: World) -> str:
    return f"/api/v1/data/enterprises/{world.uscc}/tax"


def problem(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    return body


@dataclass
class Grant:
    bank: BankClientKeys
    consent_id: str
    token: dict[str, Any]

    @property
    def refresh_token(self) -> str:
        return str(self.token["refresh_token"])


@pytest.fixture
def grant(world: World) -> Grant:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    return Grant(bank, consent_id, token)


def refresh(world: World, grant: Grant, *, proof_key: Any = None, dpop: bool = True) -> Any:
    headers = {}
    if dpop:
        headers["DPoP"] = dpop_proof(
            proof_key or grant.bank.dpop_key, "POST", TOKEN_URL, now=world.now
        )
    return world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant.refresh_token,
            **grant.bank.assertion(world),
        },
        headers=headers,
    )


def grant_rows(world: World, consent_id: str) -> list[IssuedToken]:
    with world.session() as session:
        return list(
            session.scalars(
                select(IssuedToken)
                .where(IssuedToken.consent_id == consent_id)
                .order_by(IssuedToken.id)
            )
        )


# --- PAR requires redirect_uri (§5.3.2.2 item 6) --------------------------------------


def test_par_without_redirect_uri_is_refused(world: World) -> None:
    bank = register_client(world)  # one registered redirect URI: Authlib would default to it
    consent_id = create_consent(world, bank)
    body = problem(push(world, bank, consent_id, redirect_uri=""), 400, "invalid_request")
    assert "redirect_uri" in body["error_description"]
    assert "redirect_uri" in body["detail"]
    assert push(world, bank, consent_id).status_code == 201


def _authlib_client(world: World, bank: BankClientKeys, **options: Any) -> OAuth2Client:
    """Authlib's OAuth client for ``bank``: private_key_jwt with a two-minute assertion
    for the token and PAR endpoints, PKCE S256."""
    oauth = OAuth2Client(
        client_id=bank.client_id,
        client_secret=bank.key,
        token_endpoint_auth_method="private_key_jwt",
        code_challenge_method="S256",
        scope="data:tax",
        transport=world.http._transport,
        base_url=BASE,
        **options,
    )
    oauth.register_client_auth_method(ShortLivedPrivateKeyJWT(TOKEN_URL))
    return oauth


def _push_with(oauth: OAuth2Client, consent_id: str) -> Any:
    url, _state = oauth.create_authorization_url(
        BASE + "/oauth2/authorize", code_verifier=secrets.token_urlsafe(48), consent_id=consent_id
    )
    return oauth.request(
        "POST",
        BASE + "/oauth2/par",
        data=dict(parse_qsl(urlsplit(url).query)),
        auth=oauth.client_auth("private_key_jwt"),
        withhold_token=True,
    )


def test_par_without_redirect_uri_is_refused_to_an_independent_client(world: World) -> None:
    bank = register_client(world)
    consent_id = create_consent(world, bank)
    refused = _push_with(_authlib_client(world, bank), consent_id)
    assert "redirect_uri" not in refused.request.content.decode()
    problem(refused, 400, "invalid_request")
    allowed = _push_with(_authlib_client(world, bank, redirect_uri=REDIRECT_URI), consent_id)
    assert allowed.status_code == 201, allowed.text


# --- iat up to 10 s ahead (§5.3.2.1 item 14) ------------------------------------------

AHEAD = [(8, True), (10, True), (15, False)]


def _code(world: World, bank: BankClientKeys) -> tuple[str, str, str]:
    """An authorization code for a new consent, its PKCE verifier and the consent id."""
    consent_id = create_consent(world, bank)
    pushed = push(world, bank, consent_id)
    code = redirect_params(approve(world, bank, pushed.json()["request_uri"]))["code"]
    return code, pushed.verifier, consent_id


@pytest.mark.parametrize(("seconds", "accepted"), AHEAD)
def test_token_endpoint_dpop_proof_iat_ahead(world: World, seconds: int, accepted: bool) -> None:
    bank = register_client(world)
    code, verifier, _consent_id = _code(world, bank)

    def exchange(ahead: int) -> Any:
        proof = dpop_proof(
            bank.dpop_key, "POST", TOKEN_URL, now=world.now + dt.timedelta(seconds=ahead)
        )
        return world.http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                **bank.assertion(world),
            },
            headers={"DPoP": proof},
        )

    response = exchange(seconds)
    if accepted:
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"
    else:
        body = problem(response, 400, "invalid_dpop_proof")
        assert "future" in body["error_description"]
        assert exchange(0).status_code == 200  # the refused proof did not spend the code


@pytest.mark.parametrize(("seconds", "accepted"), AHEAD)
def test_data_call_dpop_proof_iat_ahead(
    world: World, grant: Grant, seconds: int, accepted: bool
) -> None:
    proof = dpop_proof(
        grant.bank.dpop_key,
        "GET",
        BASE + tax(world),
        now=world.now + dt.timedelta(seconds=seconds),
        access_token=grant.token["access_token"],
    )
    response = call_data(world, grant.bank, grant.token["access_token"], tax(world), proof=proof)
    if accepted:
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 12
    else:
        problem(response, 401, "invalid_dpop_proof")


def _client_credentials(world: World, assertion: str) -> Any:
    return world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "consents",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize(("seconds", "accepted"), AHEAD)
def test_client_assertion_iat_ahead(world: World, seconds: int, accepted: bool) -> None:
    bank = register_client(world)
    assertion = client_assertion(bank.key, bank.client_id, now=world.now, iat_offset=seconds)
    response = _client_credentials(world, assertion)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        body = problem(response, 400, "invalid_client")
        assert "iat" in body["error_description"]


@pytest.mark.parametrize(("seconds", "accepted"), AHEAD)
def test_client_assertion_nbf_ahead(world: World, seconds: int, accepted: bool) -> None:
    bank = register_client(world)
    now = int(world.now.timestamp())
    claims = {
        "iss": bank.client_id,
        "sub": bank.client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "nbf": now + seconds,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    assertion = jwt.encode({"alg": "ES256", "kid": bank.key.kid}, claims, bank.key)
    response = _client_credentials(world, assertion)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        body = problem(response, 400, "invalid_client")
        assert "nbf" in body["error_description"]


# --- refresh tokens do not rotate (§5.3.2.1 item 10) -----------------------------------


def test_a_lost_refresh_response_is_refreshed_again(world: World, grant: Grant) -> None:
    lost = refresh(world, grant)  # the bank never sees this answer
    assert lost.status_code == 200, lost.text
    again = refresh(world, grant)
    assert again.status_code == 200, again.text
    body = again.json()
    assert "refresh_token" not in body  # RFC 6749 §6: the client keeps the one it has
    assert body["token_type"] == "DPoP"
    access = body["access_token"]
    assert access not in (grant.token["access_token"], lost.json()["access_token"])
    assert call_data(world, grant.bank, access, tax(world)).status_code == 200

    # The token table: one row per access token, all of one grant (one code), bound to
    # the same key; only the first holds the refresh token, and nothing was revoked.
    rows = grant_rows(world, grant.consent_id)
    assert [row.grant_type for row in rows] == [
        "authorization_code",
        "refresh_token",
        "refresh_token",
    ]
    assert len({row.code_id for row in rows}) == 1
    assert {row.dpop_jkt for row in rows} == {grant.bank.dpop_key.thumbprint()}
    assert [row.refresh_digest is not None for row in rows] == [True, False, False]
    assert all(row.revoked_at is None for row in rows)
    # The ledger holds the call under the consent, by the client.
    with world.session() as session:
        calls = list(
            session.scalars(select(LedgerEntry).where(LedgerEntry.consent_id == grant.consent_id))
        )
    assert [(c.client_id, c.outcome) for c in calls if c.action == "data_call"] == [
        (grant.bank.client_id, "allowed")
    ]


def test_refresh_tokens_stay_usable_over_many_refreshes(world: World, grant: Grant) -> None:
    for _ in range(5):
        world.clock.advance(minutes=10)  # each access token has expired by the next refresh
        refreshed = refresh(world, grant)
        assert refreshed.status_code == 200, refreshed.text
        access = refreshed.json()["access_token"]
        assert call_data(world, grant.bank, access, tax(world)).status_code == 200


def test_refresh_with_another_dpop_key_is_refused_and_the_grant_goes_on(
    world: World, grant: Grant
) -> None:
    assert refresh(world, grant).status_code == 200
    problem(refresh(world, grant, proof_key=new_key()), 400, "invalid_dpop_proof")
    problem(refresh(world, grant, dpop=False), 400, "invalid_dpop_proof")
    # A thief without the key gains nothing, and the bank's grant is not ended by it.
    assert refresh(world, grant).status_code == 200


def test_revoking_the_refresh_token_ends_the_grant(world: World, grant: Grant) -> None:
    refreshed = refresh(world, grant).json()["access_token"]
    revoked = world.http.post(
        "/oauth2/revoke",
        data={
            "token": grant.refresh_token,
            "token_type_hint": "refresh_token",
            **grant.bank.assertion(world, aud=BASE + "/oauth2/revoke"),
        },
    )
    assert revoked.status_code == 200, revoked.text
    problem(refresh(world, grant), 400, "invalid_grant")
    for access in (grant.token["access_token"], refreshed):
        problem(call_data(world, grant.bank, access, tax(world)), 401, "invalid_token")
    assert all(row.revoked_at is not None for row in grant_rows(world, grant.consent_id))


def test_revoking_a_refreshed_access_token_ends_the_grant(world: World, grant: Grant) -> None:
    refreshed = refresh(world, grant).json()["access_token"]
    revoked = world.http.post(
        "/oauth2/revoke",
        data={"token": refreshed, **grant.bank.assertion(world, aud=BASE + "/oauth2/revoke")},
    )
    assert revoked.status_code == 200, revoked.text
    problem(refresh(world, grant), 400, "invalid_grant")
    problem(
        call_data(world, grant.bank, grant.token["access_token"], tax(world)), 401, "invalid_token"
    )


def test_another_clients_revocation_does_not_end_the_grant(world: World, grant: Grant) -> None:
    other = register_client(world)
    answer = world.http.post(
        "/oauth2/revoke",
        data={"token": grant.refresh_token, **other.assertion(world, aud=BASE + "/oauth2/revoke")},
    )
    problem(answer, 400, "invalid_grant")  # RFC 7009 §2.1: not issued to this client
    assert refresh(world, grant).status_code == 200


def test_revoking_the_consent_ends_refresh(world: World, grant: Grant) -> None:
    refreshed = refresh(world, grant).json()["access_token"]
    browser, csrf = world.portal("legal_rep")
    revoked = browser.post(
        f"/api/v1/my/consents/{grant.consent_id}/revoke", headers={"X-CSRF-Token": csrf}
    )
    assert revoked.status_code == 200
    problem(refresh(world, grant), 400, "invalid_grant")
    problem(call_data(world, grant.bank, refreshed, tax(world)), 401, "invalid_token")


def test_an_expired_consent_ends_refresh(world: World) -> None:
    bank = register_client(world)
    consent_id, token = data_token(
        world, bank, expires_at=(world.now + dt.timedelta(minutes=20)).isoformat()
    )
    live = Grant(bank, consent_id, token)
    world.clock.advance(minutes=19)
    assert refresh(world, live).status_code == 200
    world.clock.advance(minutes=1)  # the consent's expiry instant; no sweeper has run
    problem(refresh(world, live), 400, "invalid_grant")


def test_a_suspended_client_cannot_refresh(world: World, grant: Grant) -> None:
    ops, csrf = world.portal("ops_admin")
    client_url = f"/api/v1/clients/{grant.bank.client_id}"
    assert ops.post(client_url + "/suspend", headers={"X-CSRF-Token": csrf}).status_code == 200
    problem(refresh(world, grant), 400, "invalid_client")
    # Ops re-approving the client resumes its grants that are otherwise live.
    assert ops.post(client_url + "/approve", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert refresh(world, grant).status_code == 200


def test_a_replayed_code_ends_the_refreshed_tokens_too(world: World) -> None:
    bank = register_client(world)
    code, verifier, consent_id = _code(world, bank)

    def exchange() -> Any:
        return world.http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                **bank.assertion(world),
            },
            headers={"DPoP": dpop_proof(bank.dpop_key, "POST", TOKEN_URL, now=world.now)},
        )

    first = exchange()
    assert first.status_code == 200
    live = Grant(bank, consent_id, first.json())
    refreshed = refresh(world, live).json()["access_token"]
    problem(exchange(), 400, "invalid_grant")
    problem(call_data(world, bank, refreshed, tax(world)), 401, "invalid_token")
    problem(refresh(world, live), 400, "invalid_grant")


def test_an_independent_client_refreshes_with_the_same_refresh_token(
    world: World, grant: Grant
) -> None:
    oauth = _authlib_client(world, grant.bank, token=grant.token)
    for _ in range(3):
        token = oauth.refresh_token(
            TOKEN_URL,
            refresh_token=grant.refresh_token,
            headers={"DPoP": dpop_proof(grant.bank.dpop_key, "POST", TOKEN_URL, now=world.now)},
        )
        assert token["refresh_token"] == grant.refresh_token
        assert call_data(world, grant.bank, token["access_token"], tax(world)).status_code == 200
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(
            TOKEN_URL,
            refresh_token=grant.refresh_token,
            headers={"DPoP": dpop_proof(new_key(), "POST", TOKEN_URL, now=world.now)},
        )
    assert refused.value.error == "invalid_dpop_proof"


# --- the authorization response is a 303 (§5.3.2.1 item 11) ----------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_authorization_response_is_a_303(world: World, decision: str) -> None:
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    decided = approve(world, bank, pushed.json()["request_uri"], approve=decision == "approve")
    assert decided.status_code == 303
    assert decided.headers["location"].startswith(REDIRECT_URI + "?")
    params = redirect_params(decided)
    assert params["iss"] == BASE
    if decision == "approve":
        assert params["code"]
    else:
        assert params["error"] == "access_denied"  # the error redirect
