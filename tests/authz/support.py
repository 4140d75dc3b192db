"""Builders for the authz tests: an enterprise with tax data, a bank, users, a bank
client with its keys, and the client-side pieces (DPoP proofs, client assertions)."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from authz.accounts import service as accounts
from authz.clock import FrozenClock
from authz.consents import service as consents
from authz.models import ClientStatus, OAuthClient, Role, User, UserKind
from authz.oauth.dpop import access_token_hash
from credit.features import series
from finance.enterprises.models import Enterprise
from finance.enterprises.uscc import with_check_character
from finance.govdata.models import data_table
from finance.ingestion.models import IngestBatch
from finance.institutions.models import Bank

BASE = "https://testserver"
TOKEN_URL = BASE + "/oauth2/token"
PASSWORD = "correct horse battery"
ID_NUMBER = "410102198001011234"
REDIRECT_URI = "https://bank.example/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key() -> ECKey:
    return ECKey.generate_key(
        "P-256", parameters={"alg": "ES256", "kid": secrets.token_hex(6)}, private=True
    )


def uscc_for(serial: int, city: str = "410100") -> str:
    return with_check_character(f"91{city}MA{serial:07d}"[:17])


def add_enterprise(
    session: Session, serial: int, city: str = "410100", *, with_series: bool = True
) -> str:
    """An enterprise with twelve months of tax data; ``with_series``: and its packed
    series, as ingestion writes them (not on a schema from before ``credit_series``)."""
    uscc = uscc_for(serial, city)
    batch = IngestBatch(
        category="tax",
        source_department="tax_bureau",
        file_name="t.csv",
        file_sha256="0" * 64,
        file_bytes=1,
        file_format="csv",
        as_of_date=dt.date(2026, 10, 31),
        ingested_by="test",
        status="loaded",
    )
    session.add(batch)
    session.flush()
    session.add(
        Enterprise(
            uscc=uscc,
            name=f"测试企业{serial}",
            legal_rep_name="张三",
            legal_rep_id_number=ID_NUMBER,
            founded_on=dt.date(2015, 3, 1),
            registered_capital_fen=100_000_000,
            status="active",
            division_code=city,
            city_code=city,
            industry_section="C",
            industry_division="13",
            employees=20,
            size_class="small",
            record_date=dt.date(2026, 1, 1),
            source_batch_id=batch.id,
        )
    )
    session.flush()
    rows = []
    for index in range(24):  # 2024-11 .. 2026-10
        month = dt.date(2024 + (10 + index) // 12, (10 + index) % 12 + 1, 1)
        rows.append(
            {
                "uscc": uscc,
                "period": month,
                "vat_paid_fen": 100_00 * (index + 1),
                "cit_paid_fen": 10_00,
                "iit_withheld_fen": 5_00,
                "other_paid_fen": 1_00,
                "arrears_fen": 0,
                "credit_rating": "A",
                "source_department": "tax_bureau",
                "batch_id": batch.id,
                "ingested_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                "as_of_date": dt.date(2026, 10, 31),
            }
        )
    session.execute(insert(data_table("tax")), rows)
    if with_series:
        series.refresh(session.connection(), "tax", [uscc])
    session.flush()
    return uscc


def dpop_proof(
    key: ECKey,
    method: str,
    url: str,
    *,
    now: dt.datetime,
    access_token: str | None = None,
    jti: str | None = None,
    typ: str = "dpop+jwt",
    extra: dict[str, Any] | None = None,
) -> str:
    claims: dict[str, Any] = {
        "jti": jti or secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(now.timestamp()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    claims.update(extra or {})
    header = {"typ": typ, "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key)


def client_assertion(
    key: ECKey,
    client_id: str,
    *,
    now: dt.datetime,
    aud: str = BASE + "/oauth2/token",
    lifetime: int = 60,
    iat_offset: int = 0,
    jti: str | None = None,
) -> str:
    iat = int(now.timestamp()) + iat_offset
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": iat,
        "exp": iat + lifetime,
        "jti": jti or secrets.token_urlsafe(16),
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """Authlib's private_key_jwt (the independent client's side of RFC 7523) with a fresh
    jti and a two-minute assertion per call."""

    alg = "ES256"

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return private_key_jwt_sign(  # type: ignore[no-any-return]
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=TOKEN_URL,
            alg="ES256",
            expires_in=120,
        )


def login(browser: TestClient, username: str, password: str, next_target: str = "") -> Any:
    """Fill in the login form as a browser would (its CSRF token included)."""
    form = browser.get("/login")
    return browser.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "next": next_target,
            "csrf_token": _hidden(form.text, "csrf_token"),
        },
        follow_redirects=False,
    )


@dataclass
class World:
    """One test's platform: the app, its clock, its data and its actors."""

    http: TestClient
    clock: FrozenClock
    sessions: sessionmaker[Session]
    uscc: str
    other_uscc: str
    bank_id: int
    users: dict[str, User] = field(default_factory=dict)
    portals: dict[str, tuple[TestClient, str]] = field(default_factory=dict)

    @property
    def now(self) -> dt.datetime:
        return self.clock()

    def session(self) -> Session:
        return self.sessions()

    def add_user(self, username: str, kind: UserKind, roles: list[Role], **binding: Any) -> User:
        with self.sessions.begin() as session:
            user = accounts.create_user(
                session,
                username=username,
                password=PASSWORD,
                kind=kind,
                roles=roles,
                now=self.now,
                **binding,
            )
            session.expunge(user)
        self.users[username] = user
        return user

    def portal(self, username: str) -> tuple[TestClient, str]:
        """A browser logged in as ``username`` and its CSRF token."""
        if username in self.portals:
            return self.portals[username]
        browser = TestClient(self.http.app, base_url=BASE)
        response = login(browser, username, PASSWORD, "/api/v1/me")
        assert response.status_code == 303, response.text
        self.portals[username] = (browser, response.headers["x-csrf-token"])
        return self.portals[username]


@dataclass
class BankClientKeys:
    client_id: str
    key: ECKey
    dpop_key: ECKey

    def assertion(self, world: World, **kwargs: Any) -> dict[str, str]:
        return {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.key, self.client_id, now=world.now, **kwargs),
        }


def register_client(
    world: World, admin: str = "bank_admin", approver: str | None = "ops_admin", **extra: Any
) -> BankClientKeys:
    key = new_key()
    key_dict = key.as_dict(private=False)
    browser, csrf = world.portal(admin)
    body = {
        "name": "测试银行数据服务",
        "redirect_uris": [REDIRECT_URI],
        "jwks": {"keys": [key_dict]},
        "token_endpoint_auth_method": "private_key_jwt",
        **extra,
    }
    response = browser.post("/api/v1/clients", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    client_id = response.json()["client_id"]
    assert response.json()["status"] == "pending"
    if approver is not None:
        ops, ops_csrf = world.portal(approver)
        approved = ops.post(
            f"/api/v1/clients/{client_id}/approve", headers={"X-CSRF-Token": ops_csrf}
        )
        assert approved.status_code == 200, approved.text
    return BankClientKeys(client_id=client_id, key=key, dpop_key=new_key())


def consents_token(world: World, bank: BankClientKeys) -> str:
    response = world.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "consents", **bank.assertion(world)},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def consent_terms(world: World, uscc: str, **overrides: Any) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "categories": ["tax"],
        "data_from": "2025-11-01",
        "data_to": "2026-10-31",
        "purpose": "流动资金贷款审批",
        "expires_at": (world.now + dt.timedelta(days=90)).isoformat(),
        "max_calls_per_day": 50,
        **overrides,
    }


def create_consent(world: World, bank: BankClientKeys, **overrides: Any) -> str:
    token = consents_token(world, bank)
    response = world.http.post(
        "/api/v1/consents",
        json=consent_terms(world, overrides.pop("uscc", world.uscc), **overrides),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    consent_id: str = response.json()["id"]
    return consent_id


def pkce_pair() -> tuple[str, str]:
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def push(world: World, bank: BankClientKeys, consent_id: str, **overrides: str) -> Any:
    verifier, challenge = pkce_pair()
    data = {
        "response_type": "code",
        "client_id": bank.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "data:tax",
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "consent_id": consent_id,
        **bank.assertion(world),
    }
    data.update(overrides)
    response = world.http.post("/oauth2/par", data={k: v for k, v in data.items() if v != ""})
    response.verifier = verifier  # type: ignore[attr-defined]
    return response


def approve(
    world: World,
    bank: BankClientKeys,
    request_uri: str,
    user: str = "legal_rep",
    approve: bool = True,
) -> Any:
    browser, _csrf = world.portal(user)
    screen = browser.get(
        "/oauth2/authorize", params={"client_id": bank.client_id, "request_uri": request_uri}
    )
    assert screen.status_code == 200, screen.text
    ticket = _hidden(screen.text, "ticket")
    csrf = _hidden(screen.text, "csrf_token")
    return browser.post(
        "/oauth2/authorize",
        data={"ticket": ticket, "csrf_token": csrf, "decision": "approve" if approve else "reject"},
        follow_redirects=False,
    )


def _hidden(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def redirect_params(response: Any) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange_code(
    world: World, bank: BankClientKeys, code: str, verifier: str, *, dpop: bool = True
) -> Any:
    headers = {}
    if dpop:
        headers["DPoP"] = dpop_proof(bank.dpop_key, "POST", BASE + "/oauth2/token", now=world.now)
    return world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            **bank.assertion(world),
        },
        headers=headers,
    )


def data_token(
    world: World, bank: BankClientKeys, **consent_overrides: Any
) -> tuple[str, dict[str, Any]]:
    """A consent authorised through PAR + code, and the token response for it."""
    consent_id = create_consent(world, bank, **consent_overrides)
    pushed = push(world, bank, consent_id)
    assert pushed.status_code == 201, pushed.text
    decided = approve(world, bank, pushed.json()["request_uri"])
    params = redirect_params(decided)
    response = exchange_code(world, bank, params["code"], pushed.verifier)
    assert response.status_code == 200, response.text
    return consent_id, response.json()


def call_data(
    world: World,
    bank: BankClientKeys,
    access_token: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    proof_key: ECKey | None = None,
    proof: str | None = None,
    scheme: str = "DPoP",
    htm: str = "GET",
    htu: str | None = None,
) -> Any:
    url = BASE + path
    headers = {"Authorization": f"{scheme} {access_token}"}
    if proof is None:
        proof = dpop_proof(
            proof_key or bank.dpop_key, htm, htu or url, now=world.now, access_token=access_token
        )
    if proof:
        headers["DPoP"] = proof
    return world.http.get(path, params=params, headers=headers)


class Receiver:
    """A bank's webhook endpoint on a real local HTTP server. It answers 503 to the next
    ``fail_next`` deliveries, and 400 to a body ``accept`` refuses (e.g. a JWS that does
    not verify with the platform's published keys); ``statuses`` lists every answer."""

    def __init__(self, accept: Callable[[bytes], bool] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    status = 503
                elif accept is not None and not accept(body):
                    status = 400
                else:
                    receiver.bodies.append(body)
                    status = 204
                receiver.statuses.append(status)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def authorised_consent(session: Session, webhook_url: str) -> tuple[str, str]:
    """A bank client with a webhook URL and a consent an enterprise just authorised (the
    ``consent.authorised`` event is due now)."""
    now = dt.datetime.now(dt.UTC)
    uscc = add_enterprise(session, 7)
    bank = Bank(code="ZZB", name="郑州银行", name_en="Bank of Zhengzhou", kind="city_commercial")
    session.add(bank)
    session.flush()
    admin = accounts.create_user(
        session,
        username="bank_admin",
        password=secrets.token_urlsafe(12),
        kind=UserKind.BANK,
        roles=[Role.BANK_ADMIN],
        now=now,
        bank_id=bank.id,
    )
    rep = accounts.create_user(
        session,
        username="legal_rep",
        password=secrets.token_urlsafe(12),
        kind=UserKind.ENTERPRISE,
        roles=[Role.LEGAL_REP],
        now=now,
        uscc=uscc,
    )
    rep.authenticated_at = now
    client = OAuthClient(
        client_id="bank-" + secrets.token_hex(4),
        bank_id=bank.id,
        name="webhook test",
        redirect_uris=["https://bank.example/callback"],
        jwks={"keys": []},
        token_endpoint_auth_method="private_key_jwt",
        webhook_url=webhook_url,
        status=ClientStatus.ACTIVE.value,
        registered_by=admin.id,
        registered_at=now,
    )
    session.add(client)
    session.flush()
    consent = consents.create(
        session,
        client=client,
        uscc=uscc,
        categories=["tax"],
        data_from=dt.date(2025, 11, 1),
        data_to=dt.date(2026, 10, 31),
        purpose="working-capital loan",
        expires_at=now + dt.timedelta(days=30),
        max_calls_per_day=10,
        now=now,
    )
    consents.authorise(session, consent, rep, now)
    session.commit()
    return client.client_id, consent.id
