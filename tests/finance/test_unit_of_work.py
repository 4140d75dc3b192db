"""A 2xx means done: the request's transaction commits before its answer is sent, and a
commit that fails is a problem response, never a success.

These run the app under a real uvicorn server (the test client waits for the whole ASGI
call, so it cannot see an answer that leaves before the commit). The commit is slowed
down by a ``before_commit`` hook, which opens the window an early answer would fall into:
on a unit of work that commits after sending, the read that follows the write finds
nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from authz.accounts import service as accounts
from authz.models import OAuthClient, Role, UserKind
from finance.app import create_app
from finance.core.db import session_factory
from finance.core.settings import Settings
from finance.institutions.models import Bank
from tests.authz.support import PASSWORD, new_key
from tests.finance.test_serve import _free_port

COMMIT_DELAY_S = 0.15


@dataclass
class Portal:
    """A bank admin's logged-in portal session over real HTTP (cookies kept by hand: the
    platform's cookies are ``Secure`` and this server is plain http on loopback)."""

    base: str
    cookies: dict[str, str]
    csrf: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {"Cookie": cookie, "X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        # A new connection per request: the read never rides behind the write's socket.
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


def _set_cookies(response: httpx.Response, jar: dict[str, str]) -> None:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        jar[name] = rest.split(";", 1)[0]


def _log_in(base: str, username: str) -> Portal:
    jar: dict[str, str] = {}
    form = httpx.get(base + "/login")
    _set_cookies(form, jar)
    marker = 'name="csrf_token" value="'
    start = form.text.index(marker) + len(marker)
    csrf = form.text[start : form.text.index('"', start)]
    answer = httpx.post(
        base + "/login",
        data={"username": username, "password": PASSWORD, "next": "", "csrf_token": csrf},
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
    )
    assert answer.status_code == 303, answer.text
    _set_cookies(answer, jar)
    return Portal(base, jar, answer.headers["x-csrf-token"])


@dataclass
class Served:
    app: FastAPI
    base: str
    admin: Portal


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[Served]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_url": base}))
    with session_factory(engine).begin() as session:
        bank = Bank(
            code="ZZB", name="郑州银行", name_en="Bank of Zhengzhou", kind="city_commercial"
        )
        session.add(bank)
        session.flush()
        accounts.create_user(
            session,
            username="bank_admin",
            password=PASSWORD,
            kind=UserKind.BANK,
            roles=[Role.BANK_ADMIN],
            now=app.state.clock(),
            bank_id=bank.id,
        )
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(app, base, _log_in(base, "bank_admin"))
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _slow_commits(app: FastAPI) -> None:
    def wait(_session: Session) -> None:
        time.sleep(COMMIT_DELAY_S)

    event.listen(app.state.session_factory, "before_commit", wait)


def _client_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "redirect_uris": ["https://bank.example/callback"],
        "jwks": {"keys": [new_key().as_dict(private=False)]},
        "token_endpoint_auth_method": "private_key_jwt",
    }


def _write_then_read(portal: Portal, name: str) -> tuple[int, int]:
    created = portal.request("POST", "/api/v1/clients", json=_client_body(name))
    assert created.status_code == 201, created.text
    read = portal.request("GET", f"/api/v1/clients/{created.json()['client_id']}")
    return created.status_code, read.status_code


def test_a_write_answered_2xx_is_visible_to_the_next_request_at_once(served: Served) -> None:
    _slow_commits(served.app)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda i: _write_then_read(served.admin, f"数据服务 {i}"), range(12))
        )
    assert answers == [(201, 200)] * 12


def test_a_commit_that_fails_is_a_problem_response_and_saves_nothing(
    served: Served, engine: Engine
) -> None:
    def refuse(_session: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("could not write to the database file"))

    event.listen(served.app.state.session_factory, "before_commit", refuse)
    answer = served.admin.request("POST", "/api/v1/clients", json=_client_body("never saved"))
    event.remove(served.app.state.session_factory, "before_commit", refuse)

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 503
    assert "nothing was changed" in answer.json()["detail"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(OAuthClient)) == 0
    assert served.admin.request("GET", "/api/v1/clients").json() == []
