"""The bank-initiated consent in a real browser (headless Chromium) against a live
``finance serve``: the bank creates a consent and pushes its authorization request; the
enterprise's legal representative is sent to the platform, logs in, reads the consent
screen (in Chinese, or English on request) and approves or rejects; the browser is sent
back to the bank's own callback server with a code or an error. The bank then exchanges
the code (PKCE, private_key_jwt, DPoP) and reads data; the representative revokes the
consent on "my consents", and the next call is refused."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import Engine, select

from authz.accounts.service import create_user
from authz.models import ClientStatus, Consent, OAuthClient, Role, UserKind
from finance.core.db import transaction
from finance.core.settings import Settings
from finance.core.types import utcnow
from finance.institutions.models import Bank
from tests.authz.support import (
    ASSERTION_TYPE,
    add_enterprise,
    client_assertion,
    dpop_proof,
    pkce_pair,
)
from tests.authz.support import new_key as new_ec_key
from tests.e2e.support import chromium, live_server, require_browser, wait_for_url, wait_until

require_browser()

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple"


@dataclass
class Callback:
    """The bank's redirect endpoint: a loopback HTTP server recording what arrives."""

    url: str
    received: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def callback() -> Iterator[Callback]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/callback":  # not the browser's /favicon.ico
                seen.append(dict(parse_qsl(parts.query)))
            body = b"<html><body><h1>bank received</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Callback(f"http://127.0.0.1:{httpd.server_address[1]}/callback", seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class BankSide:
    """The bank's side: its client id, signing key and DPoP key, and the platform URL."""

    base: str
    client_id: str
    key: ECKey
    dpop_key: ECKey
    uscc: str

    def auth(self) -> dict[str, str]:
        return {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(
                self.key, self.client_id, now=utcnow(), aud=self.base + "/oauth2/token"
            ),
        }

    def token(self, *, dpop: bool = True, **form: str) -> dict[str, Any]:
        url = self.base + "/oauth2/token"
        headers = {"DPoP": dpop_proof(self.dpop_key, "POST", url, now=utcnow())} if dpop else {}
        response = httpx.post(url, data={**form, **self.auth()}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create_consent(self) -> str:
        form = {"grant_type": "client_credentials", "scope": "consents"}
        token = self.token(dpop=False, **form)["access_token"]
        response = httpx.post(
            self.base + "/api/v1/consents",
            json={
                "uscc": self.uscc,
                "categories": ["tax", "social_insurance"],
                "data_from": "2025-11-01",
                "data_to": "2026-10-31",
                "purpose": "流动资金贷款审批",
                "expires_at": (utcnow() + dt.timedelta(days=90)).isoformat(),
                "max_calls_per_day": 50,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        consent_id: str = response.json()["id"]
        return consent_id

    def push(self, consent_id: str, redirect_uri: str) -> tuple[str, str, str]:
        """PAR with PKCE S256; returns the authorize URL, the state and the verifier."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        response = httpx.post(
            self.base + "/oauth2/par",
            data={
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "data:tax data:social_insurance",
                "consent_id": consent_id,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": state,
                **self.auth(),
            },
        )
        assert response.status_code == 201, response.text
        request_uri = response.json()["request_uri"]
        url = httpx.URL(
            self.base + "/oauth2/authorize",
            params={"client_id": self.client_id, "request_uri": request_uri},
        )
        return str(url), state, verifier

    def data_call(self, access_token: str) -> httpx.Response:
        path = f"/api/v1/data/enterprises/{self.uscc}/tax"
        return httpx.get(
            self.base + path,
            params={"date_from": "2025-11-01", "date_to": "2026-10-31"},
            headers={
                "Authorization": f"DPoP {access_token}",
                "DPoP": dpop_proof(
                    self.dpop_key, "GET", self.base + path, now=utcnow(), access_token=access_token
                ),
            },
        )


@pytest.fixture
def platform(settings: Settings, engine: Engine, callback: Callback) -> Iterator[BankSide]:
    """An enterprise with two years of tax data and its authenticated legal
    representative; a bank with an active private_key_jwt client whose redirect URI is the
    callback server; then the live server."""
    key = new_ec_key()
    now = utcnow()
    with transaction(engine) as session:
        uscc = add_enterprise(session, 7001)
        bank = Bank(
            code="ZZBANK", name="郑州银行", name_en="Bank of Zhengzhou", kind="city_commercial"
        )
        session.add(bank)
        session.flush()
        admin = create_user(
            session,
            username="bank_admin",
            password=PASSWORD,
            kind=UserKind.BANK,
            roles=[Role.BANK_ADMIN],
            now=now,
            bank_id=bank.id,
        )
        rep = create_user(
            session,
            username="legalrep",
            password=PASSWORD,
            kind=UserKind.ENTERPRISE,
            roles=[Role.LEGAL_REP],
            now=now,
            uscc=uscc,
        )
        rep.authenticated_at = now
        session.add(
            OAuthClient(
                client_id="zzbank-e2e",
                bank_id=bank.id,
                name="郑州银行数据服务",
                redirect_uris=[callback.url],
                jwks={"keys": [key.as_dict(private=False)]},
                token_endpoint_auth_method="private_key_jwt",
                status=ClientStatus.ACTIVE.value,
                registered_by=admin.id,
                registered_at=now,
            )
        )
    with live_server() as base:
        yield BankSide(base, "zzbank-e2e", key, new_ec_key(), uscc)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def _log_in(browser: webdriver.Chrome) -> None:
    """The authorize URL sends a stranger to the login form; after logging in the browser
    comes back to the consent screen."""
    wait_for_url(browser, "/login")
    browser.find_element(By.NAME, "username").send_keys("legalrep")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait_for_url(browser, "/oauth2/authorize")


def _status(engine: Engine, consent_id: str) -> str:
    with transaction(engine) as session:
        status = session.scalar(select(Consent.status).where(Consent.id == consent_id))
    assert status is not None
    return status


def test_approve_in_chinese_then_call_then_revoke_in_the_portal(
    platform: BankSide, callback: Callback, browser: webdriver.Chrome, engine: Engine, tmp_path: Any
) -> None:
    consent_id = platform.create_consent()
    url, state, verifier = platform.push(consent_id, callback.url)

    browser.get(url)
    _log_in(browser)
    wait_until(browser, lambda: browser.find_element(By.TAG_NAME, "h1").text == "数据授权确认")
    screen = browser.find_element(By.TAG_NAME, "table").text
    for shown in (
        "郑州银行",
        "纳税信息",
        "社保缴纳信息",
        "2025-11-01",
        "2026-10-31",
        "流动资金贷款审批",
    ):
        assert shown in screen, shown
    browser.save_screenshot(str(tmp_path / "consent-zh.png"))
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()

    wait_for_url(browser, "/callback")
    wait_until(browser, lambda: browser.find_element(By.TAG_NAME, "h1").text == "bank received")
    returned = callback.received[-1]
    assert returned["state"] == state
    assert returned["iss"] == platform.base
    assert _status(engine, consent_id) == "Authorised"

    token = platform.token(
        grant_type="authorization_code",
        code=returned["code"],
        redirect_uri=callback.url,
        code_verifier=verifier,
    )
    assert token["token_type"] == "DPoP"
    records = platform.data_call(token["access_token"])
    assert records.status_code == 200, records.text
    assert len(records.json()["items"]) == 12

    # The representative sees the consent, its status and its one call, and revokes it.
    browser.get(platform.base + "/my/consents")
    row = browser.find_element(By.CSS_SELECTOR, "table tr")
    assert "郑州银行" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "已授权"
    row.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, "table tr .status").text != "已授权"
    )
    status = browser.find_element(By.CSS_SELECTOR, "table tr .status")
    assert status.text == "已撤销"
    assert status.get_attribute("data-status") == "Revoked"
    assert browser.find_elements(By.CSS_SELECTOR, "table tr form") == []

    refused = platform.data_call(token["access_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"


def test_reject_in_english_sends_access_denied_to_the_bank(
    platform: BankSide, callback: Callback, browser: webdriver.Chrome, engine: Engine
) -> None:
    consent_id = platform.create_consent()
    url, state, _ = platform.push(consent_id, callback.url)

    browser.get(platform.base + "/login?lang=en")  # the English switch, remembered
    browser.get(url)
    _log_in(browser)
    wait_until(
        browser, lambda: browser.find_element(By.TAG_NAME, "h1").text == "Approve data access"
    )
    screen = browser.find_element(By.TAG_NAME, "table").text
    assert "Bank of Zhengzhou" in screen
    browser.find_element(By.CSS_SELECTOR, "button[value=reject]").click()

    wait_for_url(browser, "/callback")
    returned = callback.received[-1]
    assert returned["error"] == "access_denied"
    assert returned["state"] == state
    assert returned["iss"] == platform.base
    assert "code" not in returned
    assert _status(engine, consent_id) == "Rejected"

    # The request_uri was single use: opening the same authorize URL again is refused.
    browser.get(url)
    assert "invalid_request_uri" in browser.page_source
