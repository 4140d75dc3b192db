"""Every refusal a bank client can meet, each asserting the status and the error code
it would see, and each beside the call that is allowed (the same request made right)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from authz.models import LedgerEntry
from tests.authz.support import (
    BASE,
    REDIRECT_URI,
    BankClientKeys,
    World,
    approve,
    call_data,
    client_assertion,
    consents_token,
    create_consent,
    data_token,
    dpop_proof,
    exchange_code,
    new_key,
    push,
    redirect_params,
    register_client,
)

TAX = "/api/v1/data/enterprises/{uscc}/tax"


@dataclass
class Authorised:
    bank: BankClientKeys
    consent_id: str
    token: dict[str, Any]

    @property
    def access(self) -> str:
        return str(self.token["access_token"])


@pytest.fixture
def authorised(world: World) -> Authorised:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    return Authorised(bank, consent_id, token)


def tax(world: World) -> str:
    return TAX.format(uscc=world.uscc)


def problem(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    if response.headers["content-type"].startswith("application/problem+json"):
        assert body["status"] == status


# --- the allowed baseline every refusal below differs from in one respect -------------


def test_allowed_call_is_served_and_recorded(world: World, authorised: Authorised) -> None:
    response = call_data(world, authorised.bank, authorised.access, tax(world))
    assert response.status_code == 200
    items = response.json()["items"]
    assert next(i["period"] for i in items) == "2025-11-01"
    assert len(items) == 12
    with world.session() as session:
        assert (
            session.scalar(
                select(func.count()).where(
                    LedgerEntry.action == "data_call", LedgerEntry.outcome == "allowed"
                )
            )
            == 1
        )


# --- PKCE -----------------------------------------------------------------------------


def test_par_without_code_challenge_is_refused(world: World) -> None:
    bank = register_client(world)
    consent_id = create_consent(world, bank)
    problem(
        push(world, bank, consent_id, code_challenge="", code_challenge_method=""),
        400,
        "invalid_request",
    )


def test_par_with_plain_pkce_is_refused(world: World) -> None:
    bank = register_client(world)
    consent_id = create_consent(world, bank)
    problem(push(world, bank, consent_id, code_challenge_method="plain"), 400, "invalid_request")


def _code(world: World, bank: BankClientKeys) -> tuple[str, str]:
    consent_id = create_consent(world, bank)
    pushed = push(world, bank, consent_id)
    code = redirect_params(approve(world, bank, pushed.json()["request_uri"]))["code"]
    return code, pushed.verifier


def test_code_exchange_with_wrong_verifier_is_refused(world: World) -> None:
    bank = register_client(world)
    code, _verifier = _code(world, bank)
    problem(exchange_code(world, bank, code, "x" * 50), 400, "invalid_grant")


def test_code_exchange_without_verifier_is_refused(world: World) -> None:
    bank = register_client(world)
    code, _verifier = _code(world, bank)
    problem(exchange_code(world, bank, code, ""), 400, "invalid_request")


# --- PAR ------------------------------------------------------------------------------


def test_authorize_without_pushed_request_is_refused(world: World) -> None:
    bank = register_client(world)
    browser, _ = world.portal("legal_rep")
    response = browser.get(
        "/oauth2/authorize",
        params={"client_id": bank.client_id, "response_type": "code", "redirect_uri": REDIRECT_URI},
    )
    assert response.status_code == 400
    assert "invalid_request" in response.text


def test_request_uri_is_single_use(world: World) -> None:
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    params = {"client_id": bank.client_id, "request_uri": pushed.json()["request_uri"]}
    browser, _ = world.portal("legal_rep")
    assert browser.get("/oauth2/authorize", params=params).status_code == 200
    again = browser.get("/oauth2/authorize", params=params)
    assert again.status_code == 400
    assert "invalid_request_uri" in again.text


def test_request_uri_is_bound_to_its_client(world: World) -> None:
    bank = register_client(world)
    other = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    browser, _ = world.portal("legal_rep")
    response = browser.get(
        "/oauth2/authorize",
        params={"client_id": other.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    assert response.status_code == 400
    assert "invalid_request_uri" in response.text


def test_request_uri_expires_within_a_minute(world: World) -> None:
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    assert pushed.json()["expires_in"] < 60
    world.clock.advance(seconds=pushed.json()["expires_in"])
    browser, _ = world.portal("legal_rep")
    response = browser.get(
        "/oauth2/authorize",
        params={"client_id": bank.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    assert response.status_code == 400
    assert "invalid_request_uri" in response.text


def test_par_refuses_a_request_uri_parameter(world: World) -> None:
    bank = register_client(world)
    problem(
        push(world, bank, create_consent(world, bank), request_uri="urn:x"), 400, "invalid_request"
    )


def test_par_refuses_unregistered_redirect_uri(world: World) -> None:
    bank = register_client(world)
    problem(
        push(world, bank, create_consent(world, bank), redirect_uri="https://evil.example/cb"),
        400,
        "invalid_request",
    )


def test_par_refuses_another_clients_consent(world: World) -> None:
    bank = register_client(world)
    other = register_client(world)
    problem(push(world, other, create_consent(world, bank)), 400, "invalid_request")


# --- authorization codes ----------------------------------------------------------------


def test_code_reuse_is_refused_and_revokes_its_tokens(world: World) -> None:
    bank = register_client(world)
    code, verifier = _code(world, bank)
    first = exchange_code(world, bank, code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert call_data(world, bank, access, tax(world)).status_code == 200
    problem(exchange_code(world, bank, code, verifier), 400, "invalid_grant")
    problem(call_data(world, bank, access, tax(world)), 401, "invalid_token")


def test_code_expires_after_sixty_seconds(world: World) -> None:
    bank = register_client(world)
    code, verifier = _code(world, bank)
    world.clock.advance(seconds=60)
    problem(exchange_code(world, bank, code, verifier), 400, "invalid_grant")


def test_code_exchange_without_dpop_is_refused(world: World) -> None:
    bank = register_client(world)
    code, verifier = _code(world, bank)
    problem(exchange_code(world, bank, code, verifier, dpop=False), 400, "invalid_dpop_proof")


# --- client authentication (RFC 7523) ---------------------------------------------------


def _client_credentials(world: World, bank: BankClientKeys, assertion: str) -> Any:
    return world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "consents",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize(
    "fault",
    ["wrong_aud", "expired", "future_iat", "other_key", "allowed"],
)
def test_client_assertion_faults(world: World, fault: str) -> None:
    bank = register_client(world)
    now = world.now
    assertion = {
        "wrong_aud": lambda: client_assertion(
            bank.key, bank.client_id, now=now, aud="https://other.example/token"
        ),
        "expired": lambda: client_assertion(
            bank.key, bank.client_id, now=now, iat_offset=-200, lifetime=100
        ),
        "future_iat": lambda: client_assertion(bank.key, bank.client_id, now=now, iat_offset=120),
        "other_key": lambda: client_assertion(new_key(), bank.client_id, now=now),
        "allowed": lambda: client_assertion(bank.key, bank.client_id, now=now, iat_offset=-50),
    }[fault]()
    response = _client_credentials(world, bank, assertion)
    if fault == "allowed":
        assert response.status_code == 200
    else:
        problem(response, 400, "invalid_client")


def test_replayed_client_assertion_is_refused(world: World) -> None:
    bank = register_client(world)
    assertion = client_assertion(bank.key, bank.client_id, now=world.now)
    assert _client_credentials(world, bank, assertion).status_code == 200
    problem(_client_credentials(world, bank, assertion), 400, "invalid_client")


def test_unapproved_client_is_refused(world: World) -> None:
    bank = register_client(world, approver=None)
    assertion = client_assertion(bank.key, bank.client_id, now=world.now)
    problem(_client_credentials(world, bank, assertion), 400, "invalid_client")


def test_secret_clients_are_sandbox_only(world: World) -> None:
    browser, csrf = world.portal("bank_admin")
    body = {
        "name": "x",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    refused = browser.post("/api/v1/clients", json=body, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 422
    sandbox = browser.post(
        "/api/v1/clients", json={**body, "sandbox": True}, headers={"X-CSRF-Token": csrf}
    )
    assert sandbox.status_code == 201
    assert sandbox.json()["client_secret"]


# --- DPoP at the data API ---------------------------------------------------------------


def test_dpop_bound_token_without_proof_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), proof=""),
        401,
        "invalid_dpop_proof",
    )


def test_proof_signed_with_another_key_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), proof_key=new_key()),
        401,
        "invalid_dpop_proof",
    )


def test_replayed_proof_is_refused(world: World, authorised: Authorised) -> None:
    proof = dpop_proof(
        authorised.bank.dpop_key,
        "GET",
        BASE + tax(world),
        now=world.now,
        access_token=authorised.access,
    )
    assert (
        call_data(world, authorised.bank, authorised.access, tax(world), proof=proof).status_code
        == 200
    )
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), proof=proof),
        401,
        "invalid_dpop_proof",
    )


def test_proof_with_wrong_htm_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), htm="POST"),
        401,
        "invalid_dpop_proof",
    )


def test_proof_with_wrong_htu_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(
            world,
            authorised.bank,
            authorised.access,
            tax(world),
            htu=BASE + "/api/v1/data/enterprises/x/tax",
        ),
        401,
        "invalid_dpop_proof",
    )


def test_stale_proof_is_refused(world: World, authorised: Authorised) -> None:
    stale = dpop_proof(
        authorised.bank.dpop_key,
        "GET",
        BASE + tax(world),
        now=world.now - dt.timedelta(seconds=61),
        access_token=authorised.access,
    )
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), proof=stale),
        401,
        "invalid_dpop_proof",
    )


def test_proof_for_another_token_is_refused(world: World, authorised: Authorised) -> None:
    proof = dpop_proof(
        authorised.bank.dpop_key,
        "GET",
        BASE + tax(world),
        now=world.now,
        access_token="some-other-token",
    )
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), proof=proof),
        401,
        "invalid_dpop_proof",
    )


def test_dpop_token_presented_as_bearer_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(world, authorised.bank, authorised.access, tax(world), scheme="Bearer"),
        401,
        "invalid_token",
    )


def test_token_in_query_string_is_refused(world: World, authorised: Authorised) -> None:
    problem(
        call_data(
            world,
            authorised.bank,
            authorised.access,
            tax(world),
            params={"access_token": authorised.access},
        ),
        400,
        "invalid_request",
    )


def test_missing_token_is_refused(world: World) -> None:
    problem(world.http.get(tax(world)), 401, "invalid_token")


def test_expired_access_token_is_refused(world: World, authorised: Authorised) -> None:
    world.clock.advance(seconds=authorised.token["expires_in"])
    problem(call_data(world, authorised.bank, authorised.access, tax(world)), 401, "invalid_token")


def test_refresh_with_another_dpop_key_is_refused(world: World, authorised: Authorised) -> None:
    response = world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": authorised.token["refresh_token"],
            **authorised.bank.assertion(world),
        },
        headers={"DPoP": dpop_proof(new_key(), "POST", BASE + "/oauth2/token", now=world.now)},
    )
    problem(response, 400, "invalid_dpop_proof")


# --- consent coverage -----------------------------------------------------------------


def test_category_outside_consent_is_refused(world: World, authorised: Authorised) -> None:
    path = f"/api/v1/data/enterprises/{world.uscc}/judicial"
    problem(call_data(world, authorised.bank, authorised.access, path), 403, "insufficient_scope")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"date_from": "2025-10-01"}, 403),
        ({"date_to": "2026-11-30"}, 403),
        ({"date_from": "2026-01-01", "date_to": "2026-03-31"}, 200),
    ],
)
def test_dates_must_lie_inside_the_consent(
    world: World, authorised: Authorised, params: dict[str, str], status: int
) -> None:
    response = call_data(world, authorised.bank, authorised.access, tax(world), params=params)
    if status == 200:
        assert response.status_code == 200
        assert len(response.json()["items"]) == 3
    else:
        problem(response, 403, "dates_outside_consent")


def test_another_enterprise_is_not_found(world: World, authorised: Authorised) -> None:
    path = TAX.format(uscc=world.other_uscc)
    problem(call_data(world, authorised.bank, authorised.access, path), 404, "not_found")


def test_revoked_consent_refuses_at_once_and_kills_refresh(
    world: World, authorised: Authorised
) -> None:
    browser, csrf = world.portal("legal_rep")
    revoked = browser.post(
        f"/api/v1/my/consents/{authorised.consent_id}/revoke", headers={"X-CSRF-Token": csrf}
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "Revoked"
    # The token was revoked with the consent; the refusal says so.
    problem(call_data(world, authorised.bank, authorised.access, tax(world)), 401, "invalid_token")
    refresh = world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": authorised.token["refresh_token"],
            **authorised.bank.assertion(world),
        },
        headers={
            "DPoP": dpop_proof(
                authorised.bank.dpop_key, "POST", BASE + "/oauth2/token", now=world.now
            )
        },
    )
    problem(refresh, 400, "invalid_grant")


def test_expired_consent_refuses_at_call_time(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(
        world, bank, expires_at=(world.now + dt.timedelta(minutes=3)).isoformat()
    )
    assert call_data(world, bank, token["access_token"], tax(world)).status_code == 200
    world.clock.advance(minutes=3)  # the access token itself lives 5 minutes
    problem(call_data(world, bank, token["access_token"], tax(world)), 403, "consent_expired")


def test_another_clients_consent_is_not_found(world: World, authorised: Authorised) -> None:
    other = register_client(world)
    token = consents_token(world, other)
    response = world.http.get(
        f"/api/v1/consents/{authorised.consent_id}", headers={"Authorization": f"Bearer {token}"}
    )
    problem(response, 404, "not_found")
    own = world.http.get(
        f"/api/v1/consents/{authorised.consent_id}",
        headers={"Authorization": f"Bearer {consents_token(world, authorised.bank)}"},
    )
    assert own.status_code == 200
    assert own.json()["status"] == "Authorised"


def test_suspended_client_is_refused(world: World, authorised: Authorised) -> None:
    ops, csrf = world.portal("ops_admin")
    suspended = ops.post(
        f"/api/v1/clients/{authorised.bank.client_id}/suspend", headers={"X-CSRF-Token": csrf}
    )
    assert suspended.status_code == 200
    problem(call_data(world, authorised.bank, authorised.access, tax(world)), 401, "invalid_client")


def test_daily_call_limit(world: World) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank, max_calls_per_day=2)
    for _ in range(2):
        assert call_data(world, bank, token["access_token"], tax(world)).status_code == 200
    refused = call_data(world, bank, token["access_token"], tax(world))
    problem(refused, 429, "daily_limit_exceeded")
    assert int(refused.headers["retry-after"]) > 0


def test_per_client_rate_limit(world: World, authorised: Authorised) -> None:
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    runtime.settings = runtime.settings.model_copy(update={"client_rate_per_minute": 2})
    world.clock.now = world.clock.now.replace(second=1)  # the start of a window
    for _ in range(2):
        assert call_data(world, authorised.bank, authorised.access, tax(world)).status_code == 200
    refused = call_data(world, authorised.bank, authorised.access, tax(world))
    problem(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "59"
    assert "r=0" in refused.headers["ratelimit"]
    world.clock.advance(seconds=59)
    assert call_data(world, authorised.bank, authorised.access, tax(world)).status_code == 200


def test_consents_api_needs_the_consents_scope(world: World, authorised: Authorised) -> None:
    problem(world.http.get(f"/api/v1/consents/{authorised.consent_id}"), 401, "invalid_token")
    proof = dpop_proof(
        authorised.bank.dpop_key,
        "GET",
        BASE + f"/api/v1/consents/{authorised.consent_id}",
        now=world.now,
        access_token=authorised.access,
    )
    response = world.http.get(
        f"/api/v1/consents/{authorised.consent_id}",
        headers={"Authorization": f"DPoP {authorised.access}", "DPoP": proof},
    )
    problem(response, 403, "insufficient_scope")


def test_every_refusal_is_in_the_ledger(world: World, authorised: Authorised) -> None:
    call_data(world, authorised.bank, authorised.access, tax(world), proof="")
    call_data(
        world, authorised.bank, authorised.access, f"/api/v1/data/enterprises/{world.uscc}/judicial"
    )
    with world.session() as session:
        refused = list(session.scalars(select(LedgerEntry).where(LedgerEntry.outcome == "refused")))
    assert [e.reason.split(":")[0] for e in refused] == ["invalid_dpop_proof", "insufficient_scope"]
    assert all(e.client_id == authorised.bank.client_id for e in refused)


# --- the enterprise side --------------------------------------------------------------


def test_another_enterprises_user_cannot_approve(world: World) -> None:
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    browser, _ = world.portal("other_rep")
    response = browser.get(
        "/oauth2/authorize",
        params={"client_id": bank.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    assert response.status_code == 400
    assert "access_denied" in response.text


def test_rejection_redirects_with_access_denied_and_iss(world: World) -> None:
    bank = register_client(world)
    consent_id = create_consent(world, bank)
    pushed = push(world, bank, consent_id)
    params = redirect_params(approve(world, bank, pushed.json()["request_uri"], approve=False))
    assert params["error"] == "access_denied"
    assert params["iss"] == BASE
    token = consents_token(world, bank)
    status = world.http.get(
        f"/api/v1/consents/{consent_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert status["status"] == "Rejected"


def test_portal_json_calls_need_the_csrf_token(world: World) -> None:
    browser, csrf = world.portal("bank_admin")
    body = {"name": "x", "redirect_uris": [REDIRECT_URI], "jwks": {"keys": []}}
    problem(browser.post("/api/v1/clients", json=body), 403, "csrf_failed")
    assert (
        browser.post("/api/v1/clients", json=body, headers={"X-CSRF-Token": csrf}).status_code
        == 422
    )  # now only the JWKS
