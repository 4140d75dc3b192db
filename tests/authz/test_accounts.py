"""Accounts and the portal: enterprise authentication against the registry (rate
limited, logged), password login, the session cookie, CSRF, roles, the language switch,
"my consents" with revoke, and who may read which ledger entries."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from authz.models import AuthenticationAttempt, Role, User, UserKind
from tests.authz.support import (
    BASE,
    ID_NUMBER,
    PASSWORD,
    World,
    _hidden,
    call_data,
    create_consent,
    data_token,
    login,
    push,
    register_client,
)


def test_enterprise_authentication_matches_the_registry(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    user = world.add_user("new_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=world.uscc)
    browser, csrf = world.portal("new_rep")
    headers = {"X-CSRF-Token": csrf}
    wrong = browser.post(
        "/api/v1/my/authenticate",
        json={"legal_rep_name": "张三", "id_number": "410102198001019999"},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "authentication_failed"
    with caplog.at_level(logging.INFO, logger="authz.accounts"):
        right = browser.post(
            "/api/v1/my/authenticate",
            json={"legal_rep_name": "张三", "id_number": ID_NUMBER},
            headers=headers,
        )
    assert right.status_code == 200
    assert ID_NUMBER not in caplog.text  # the secret is never logged
    with world.session() as session:
        assert session.get(User, user.id).authenticated_at is not None  # type: ignore[union-attr]
        attempts = session.scalars(
            select(AuthenticationAttempt.succeeded).where(
                AuthenticationAttempt.kind == "enterprise"
            )
        ).all()
    assert attempts == [False, True]


def test_enterprise_authentication_failures_are_rate_limited(world: World) -> None:
    world.add_user("guesser", UserKind.ENTERPRISE, [Role.AGENT], uscc=world.uscc)
    browser, csrf = world.portal("guesser")
    guess = {"legal_rep_name": "张三", "id_number": "410102198001010000"}
    for _ in range(5):
        response = browser.post(
            "/api/v1/my/authenticate", json=guess, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 422
    locked = browser.post(
        "/api/v1/my/authenticate",
        json={"legal_rep_name": "张三", "id_number": ID_NUMBER},
        headers={"X-CSRF-Token": csrf},
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "too_many_attempts"
    world.clock.advance(minutes=16)
    assert (
        browser.post(
            "/api/v1/my/authenticate",
            json={"legal_rep_name": "张三", "id_number": ID_NUMBER},
            headers={"X-CSRF-Token": csrf},
        ).status_code
        == 200
    )


def test_unauthenticated_enterprise_cannot_grant_consent(world: World) -> None:
    world.add_user("fresh_rep", UserKind.ENTERPRISE, [Role.LEGAL_REP], uscc=world.uscc)
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    browser, _ = world.portal("fresh_rep")
    screen = browser.get(
        "/oauth2/authorize",
        params={"client_id": bank.client_id, "request_uri": pushed.json()["request_uri"]},
    )
    decided = browser.post(
        "/oauth2/authorize",
        data={
            "ticket": _hidden(screen.text, "ticket"),
            "csrf_token": _hidden(screen.text, "csrf_token"),
            "decision": "approve",
        },
        follow_redirects=False,
    )
    assert decided.status_code == 409
    assert decided.json()["error"] == "enterprise_not_authenticated"


def test_login_sets_a_secure_cookie_and_locks_out_guessers(world: World) -> None:
    browser = TestClient(world.http.app, base_url=BASE)
    ok = login(browser, "legal_rep", PASSWORD)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"].lower()
    assert "secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    for _ in range(5):
        assert login(browser, "ops_admin", "wrong password").status_code == 401
    assert login(browser, "ops_admin", PASSWORD).status_code == 429


def test_login_form_needs_its_csrf_token(world: World) -> None:
    browser = TestClient(world.http.app, base_url=BASE)
    forged = browser.post(
        "/login", data={"username": "legal_rep", "password": PASSWORD}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert forged.json()["error"] == "csrf_failed"
    assert login(browser, "legal_rep", PASSWORD).status_code == 303


def test_open_redirect_after_login_is_refused(world: World) -> None:
    browser = TestClient(world.http.app, base_url=BASE)
    response = login(browser, "legal_rep", PASSWORD, "//evil.example/x")
    assert response.headers["location"] == "/my/consents"


@pytest.mark.parametrize(
    ("username", "status"),
    [("legal_rep", 403), ("ops_admin", 403), ("bank_admin", 422)],
)
def test_only_bank_admins_register_clients(world: World, username: str, status: int) -> None:
    browser, csrf = world.portal(username)
    response = browser.post(
        "/api/v1/clients",
        json={"name": "x", "redirect_uris": ["https://b.example/cb"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == status  # the bank admin gets past the role check


def test_only_ops_admins_approve_clients(world: World) -> None:
    bank = register_client(world, approver=None)
    for username in ("bank_admin", "pds_auditor"):
        browser, csrf = world.portal(username)
        response = browser.post(
            f"/api/v1/clients/{bank.client_id}/approve", headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 403


def test_consent_screen_and_pages_switch_language(world: World) -> None:
    bank = register_client(world)
    pushed = push(world, bank, create_consent(world, bank))
    browser, _ = world.portal("legal_rep")
    params = {"client_id": bank.client_id, "request_uri": pushed.json()["request_uri"]}
    chinese = browser.get("/oauth2/authorize", params=params)
    assert "数据授权确认" in chinese.text
    assert "纳税信息" in chinese.text
    assert "同意授权" in chinese.text
    english = browser.get("/my/consents", params={"lang": "en"})
    assert "My consents" in english.text
    assert browser.cookies.get("lang") == "en"
    assert "My consents" in browser.get("/my/consents").text  # remembered


def test_my_consents_page_revokes_with_csrf(world: World) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    browser, _ = world.portal("legal_rep")
    page = browser.get("/my/consents")
    assert "郑州银行" in page.text
    assert "已授权" in page.text  # the status in plain Chinese, its code kept as data
    assert 'data-status="Authorised"' in page.text
    forged = browser.post(
        f"/my/consents/{consent_id}/revoke", data={"csrf_token": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, token["access_token"], path).status_code == 200
    done = browser.post(
        f"/my/consents/{consent_id}/revoke",
        data={"csrf_token": _hidden(page.text, "csrf_token")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert call_data(world, bank, token["access_token"], path).status_code == 401


def test_another_enterprise_cannot_see_or_revoke_a_consent(world: World) -> None:
    bank = register_client(world)
    consent_id, _token = data_token(world, bank)
    browser, csrf = world.portal("other_rep")
    assert browser.get(f"/api/v1/my/consents/{consent_id}").status_code == 404
    revoke = browser.post(
        f"/api/v1/my/consents/{consent_id}/revoke", headers={"X-CSRF-Token": csrf}
    )
    assert revoke.status_code == 404
    assert browser.get("/api/v1/my/consents").json() == {"items": []}


def test_ledger_visibility_by_role(world: World) -> None:
    bank = register_client(world)
    _consent_id, token = data_token(world, bank)
    call_data(world, bank, token["access_token"], f"/api/v1/data/enterprises/{world.uscc}/tax")

    own, _ = world.portal("legal_rep")
    mine = own.get("/api/v1/my/ledger").json()
    assert {e["uscc"] for e in mine} == {world.uscc}
    assert any(e["action"] == "data_call" for e in mine)

    other, _ = world.portal("other_rep")
    assert other.get("/api/v1/my/ledger").json() == []

    bank_staff, _ = world.portal("bank_admin")
    assert {e["client_id"] for e in bank_staff.get("/api/v1/bank/ledger").json()} == {
        bank.client_id
    }

    province, _ = world.portal("ops_admin")
    assert len(province.get("/api/v1/ledger", params={"uscc": world.uscc}).json()) == len(mine)
    city, _ = world.portal("pds_auditor")  # Pingdingshan branch: not this Zhengzhou firm
    assert city.get("/api/v1/ledger", params={"uscc": world.uscc}).json() == []
    assert own.get("/api/v1/ledger").status_code == 403


def test_logout_ends_every_session_of_the_user(world: World) -> None:
    first = TestClient(world.http.app, base_url=BASE)
    second = TestClient(world.http.app, base_url=BASE)
    for browser in (first, second):
        assert login(browser, "legal_rep", PASSWORD).status_code == 303
    csrf = first.get("/api/v1/me").json()["csrf_token"]
    assert second.get("/api/v1/me").status_code == 200
    out = first.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert second.get("/api/v1/me").status_code == 401
    assert second.get("/api/v1/me").json()["error"] == "login_required"
