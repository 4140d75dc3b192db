"""Consent lifecycle beyond the bank journey: the terms a consent may have, the bank
ending a consent, expiry by the sweeper with its event, the platform-initiated (310)
consent and its client-credentials data token, key rotation and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from authz.consents import service as consents
from authz.models import Consent, ConsentChange, OAuthClient, SigningKey, User
from authz.runtime import AuthzRuntime
from finance.cli.main import app
from finance.core.settings import Settings
from tests.authz.support import (
    BASE,
    World,
    call_data,
    consent_terms,
    consents_token,
    data_token,
    dpop_proof,
    register_client,
)


def _post(world: World, token: str, body: dict[str, object]) -> object:
    return world.http.post(
        "/api/v1/consents", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_consent_terms_are_checked(world: World) -> None:
    bank = register_client(world)
    token = consents_token(world, bank)
    too_long = consent_terms(
        world, world.uscc, expires_at=(world.now + dt.timedelta(days=400)).isoformat()
    )
    unknown = consent_terms(world, world.uscc, categories=["horoscope"])
    backwards = consent_terms(world, world.uscc, data_from="2026-10-01", data_to="2026-01-01")
    nobody = consent_terms(world, "91410100MA0000000X")
    for body in (too_long, unknown, backwards, nobody):
        response = _post(world, token, body)
        assert response.status_code == 422, body  # type: ignore[attr-defined]
    ok = _post(world, token, consent_terms(world, world.uscc))
    assert ok.status_code == 201  # type: ignore[attr-defined]


def test_bank_ends_a_consent(world: World) -> None:
    bank = register_client(world)
    consent_id, data = data_token(world, bank)
    token = consents_token(world, bank)
    headers = {"Authorization": f"Bearer {token}"}
    assert world.http.delete(f"/api/v1/consents/{consent_id}", headers=headers).status_code == 204
    body = world.http.get(f"/api/v1/consents/{consent_id}", headers=headers).json()
    assert body["status"] == "Revoked"
    assert body["status_changed_by"] == f"client:{bank.client_id}"
    assert [c["status"] for c in body["changes"]] == [
        "AwaitingAuthorisation",
        "Authorised",
        "Revoked",
    ]
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, data["access_token"], path).status_code == 401
    assert world.http.delete(f"/api/v1/consents/{consent_id}", headers=headers).status_code == 409


def test_sweeper_expires_consents_and_tells_the_bank(world: World) -> None:
    bank = register_client(world)
    consent_id, _data = data_token(
        world, bank, expires_at=(world.now + dt.timedelta(hours=1)).isoformat()
    )
    with world.sessions.begin() as session:
        assert consents.expire_due(session, world.now) == 0
    world.clock.advance(hours=1)
    with world.sessions.begin() as session:
        assert consents.expire_due(session, world.now) == 1
        assert consents.expire_due(session, world.now) == 0
        changes = session.scalars(
            select(ConsentChange.by).where(ConsentChange.consent_id == consent_id)
        ).all()
    assert changes[-1] == "system"
    token = consents_token(world, bank)
    events = world.http.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).json()
    assert [e["type"] for e in events] == ["consent.authorised", "consent.expired"]
    after = world.http.get(
        "/api/v1/events",
        params={"after": events[0]["id"]},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert [e["type"] for e in after] == ["consent.expired"]


def test_an_expired_consent_reads_as_expired_without_the_sweeper(world: World) -> None:
    bank = register_client(world)
    consent_id, _data = data_token(
        world, bank, expires_at=(world.now + dt.timedelta(hours=1)).isoformat()
    )
    world.clock.advance(hours=1)
    headers = {"Authorization": f"Bearer {consents_token(world, bank)}"}
    body = world.http.get(f"/api/v1/consents/{consent_id}", headers=headers).json()
    assert body["status"] == "Expired"
    browser, _ = world.portal("legal_rep")
    assert [c["status"] for c in browser.get("/api/v1/my/consents").json()["items"]] == ["Expired"]


def test_platform_initiated_consent_and_its_data_token(world: World) -> None:
    bank = register_client(world)
    with world.sessions.begin() as session:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == bank.client_id))
        user = session.get(User, world.users["legal_rep"].id)
        assert client is not None
        assert user is not None
        consent = consents.create(
            session,
            client=client,
            uscc=world.uscc,
            categories=["tax", "social_insurance"],
            data_from=dt.date(2025, 11, 1),
            data_to=dt.date(2026, 10, 31),
            purpose="310 application",
            expires_at=world.now + dt.timedelta(days=30),
            max_calls_per_day=20,
            now=world.now,
            origin="platform",
        )
        consents.authorise(session, consent, user, world.now)
        consent_id = consent.id
    token_url = BASE + "/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "consent_id": consent_id,
        **bank.assertion(world),
    }
    without_dpop = world.http.post("/oauth2/token", data=form)
    assert without_dpop.status_code == 400
    assert without_dpop.json()["error"] == "invalid_dpop_proof"
    response = world.http.post(
        "/oauth2/token",
        data={**form, **bank.assertion(world)},
        headers={"DPoP": dpop_proof(bank.dpop_key, "POST", token_url, now=world.now)},
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "DPoP"
    assert "refresh_token" not in token
    assert token["scope"] == "data:social_insurance data:tax"
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, token["access_token"], path).status_code == 200

    other = register_client(world)
    stolen = world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "consent_id": consent_id,
            **other.assertion(world),
        },
        headers={"DPoP": dpop_proof(other.dpop_key, "POST", token_url, now=world.now)},
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


def test_bank_initiated_consent_cannot_be_taken_by_client_credentials(world: World) -> None:
    bank = register_client(world)
    consent_id, _data = data_token(world, bank)
    response = world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "consent_id": consent_id,
            **bank.assertion(world),
        },
        headers={"DPoP": dpop_proof(bank.dpop_key, "POST", BASE + "/oauth2/token", now=world.now)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_introspection_of_another_clients_token_is_inactive(world: World) -> None:
    bank = register_client(world)
    _consent, data = data_token(world, bank)
    other = register_client(world)
    response = world.http.post(
        "/oauth2/introspect",
        data={
            "token": data["access_token"],
            **other.assertion(world, aud=BASE + "/oauth2/introspect"),
        },
    )
    assert response.json() == {"active": False}
    own = world.http.post(
        "/oauth2/introspect",
        data={"token": data["access_token"], **bank.assertion(world)},
    ).json()
    assert own["active"] is True
    assert own["cnf"]["jkt"] == bank.dpop_key.thumbprint()


def test_rotated_keys_keep_old_tokens_valid_and_publish_both(world: World) -> None:
    bank = register_client(world)
    _consent, data = data_token(world, bank)
    before = world.http.get("/oauth2/jwks").json()["keys"]
    result = CliRunner().invoke(app, ["keys", "rotate", "--json"])
    assert result.exit_code == 0
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    runtime.keyring.invalidate()
    after = world.http.get("/oauth2/jwks").json()["keys"]
    assert {k["kid"] for k in after} == {k["kid"] for k in before} | {
        json.loads(result.stdout)["kid"]
    }
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, data["access_token"], path).status_code == 200


def test_cli_creates_users_and_approves_clients(world: World) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "user",
            "create",
            "cli_ops",
            "--kind",
            "ops",
            "--role",
            "ops_admin",
            "--password",
            "a long enough secret",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["kind"] == "ops"
    short = runner.invoke(
        app, ["user", "create", "x", "--kind", "ops", "--role", "ops_admin", "--password", "short"]
    )
    assert short.exit_code == 2
    bank = register_client(world, approver=None)
    approved = runner.invoke(app, ["client", "approve", bank.client_id, "--json"])
    assert approved.exit_code == 0
    assert json.loads(approved.stdout) == {"client_id": bank.client_id, "status": "active"}
    assert consents_token(world, bank)
    with world.session() as session:
        assert session.scalar(select(Consent.id)) is None


def test_sandbox_client_uses_client_secret_basic(world: World) -> None:
    browser, csrf = world.portal("bank_admin")
    registered = browser.post(
        "/api/v1/clients",
        json={
            "name": "sandbox",
            "redirect_uris": ["https://bank.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
            "sandbox": True,
        },
        headers={"X-CSRF-Token": csrf},
    ).json()
    client_id, secret = registered["client_id"], registered["client_secret"]
    ops, ops_csrf = world.portal("ops_admin")
    ops.post(f"/api/v1/clients/{client_id}/approve", headers={"X-CSRF-Token": ops_csrf})
    form = {"grant_type": "client_credentials", "scope": "consents"}
    ok = world.http.post("/oauth2/token", data=form, auth=(client_id, secret))
    assert ok.status_code == 200
    wrong = world.http.post("/oauth2/token", data=form, auth=(client_id, "not the secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


def test_profile_summarises_only_consented_categories_and_dates(world: World) -> None:
    bank = register_client(world)
    _consent, data = data_token(world, bank)  # tax, 2025-11 .. 2026-10; data from 2024-11
    response = call_data(
        world, bank, data["access_token"], f"/api/v1/data/enterprises/{world.uscc}/profile"
    )
    assert response.status_code == 200
    summary = response.json()["categories"]
    assert set(summary) == {"tax"}
    # 12 consented months of VAT (months 13..24 of the series), nothing from before.
    assert summary["tax"]["vat_paid_fen_12m"] == 100_00 * sum(range(13, 25))
    assert summary["tax"]["vat_paid_fen_prior_12m"] == 0


def test_signing_keys_are_sealed_at_rest_and_production_needs_https(
    world: World, settings: Settings, engine: Engine
) -> None:
    world.http.get("/oauth2/jwks")
    with world.session() as session:
        stored = session.scalars(select(SigningKey.private_jwk)).all()
    assert stored
    assert all(set(row) == {"kid", "sealed"} for row in stored)
    production = settings.model_copy(update={"env": "production", "secret_key": "x" * 40})
    with pytest.raises(ValueError, match="https"):
        AuthzRuntime.build(production, engine)
