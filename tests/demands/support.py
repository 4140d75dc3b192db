"""Builders for the demand-market tests: banks with staff, products taken online through
the catalogue's own workflow (bank submits, ops approves), and a posted demand."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from authz.accounts import service as accounts
from authz.models import Role, UserKind
from finance.institutions.models import Bank
from products import service as catalogue
from products.schemas import ProductCreate, VersionTerms
from products.workflow import Actor, Side
from tests.authz.support import PASSWORD, World
from tests.finance.test_serve import _free_port

# The demand the tests post unless told otherwise: 500,000 yuan for 12 months, against
# a mortgage, by an enterprise in Zhengzhou (410100), manufacturing (C), small.
DEMAND: dict[str, Any] = {
    "amount_fen": 50_000_000,
    "term_months": 12,
    "purpose": "采购原材料 (raw materials for an export order)",
    "guarantee": "mortgage",
    "urgency": "urgent",
    "contact_channel": "phone",
    "contact_name": "王会计",
    "contact_phone": "13800138000",
    "contact_note": "工作日下午",
}
OPS = Actor(Side.OPS, "user:ops", "ops reviewer")


def add_bank(session: Session, code: str, now: dt.datetime) -> int:
    """A bank and one staff member, ``staff_<code>`` (password ``PASSWORD``)."""
    bank = Bank(code=code, name=f"{code}银行", name_en=f"Bank {code}", kind="city_commercial")
    session.add(bank)
    session.flush()
    accounts.create_user(
        session,
        username=f"staff_{code.lower()}",
        password=PASSWORD,
        kind=UserKind.BANK,
        roles=[Role.BANK_STAFF],
        now=now,
        bank_id=bank.id,
    )
    return bank.id


def product(
    session: Session,
    bank_id: int,
    code: str,
    now: dt.datetime,
    *,
    online: bool = True,
    **terms: Any,
) -> int:
    """A product of ``bank_id`` created, submitted and (when ``online``) approved through
    the catalogue's workflow; returns the product id."""
    values: dict[str, Any] = {
        "name": f"{code} 经营贷",
        "guarantee": "pure_credit",
        "min_amount_fen": 1_000_000,
        "max_amount_fen": 300_000_000,
        "default_amount_fen": 50_000_000,
        "min_term_months": 3,
        "max_term_months": 36,
        "rate_min_pct": "3.800",
        "rate_max_pct": "6.500",
        "repayment_methods": ["equal_instalment"],
        **terms,
    }
    bank = Actor(Side.BANK, f"bank:{bank_id}", "bank staff", bank_id=bank_id)
    version = catalogue.create_product(
        session, bank, ProductCreate(code=code, terms=VersionTerms(**values)), now
    )
    if online:
        catalogue.fire(session, bank, version.product_id, version.number, "submit", None, now)
        catalogue.fire(session, OPS, version.product_id, version.number, "approve", None, now)
    session.flush()
    return version.product_id


@dataclass
class Market:
    """One test's demand market: the platform (``world``), its banks by code and the
    product each bank's best fit is expected to be."""

    world: World
    banks: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)

    @property
    def http(self) -> TestClient:
        return self.world.http

    def portal(self, username: str) -> tuple[TestClient, str]:
        return self.world.portal(username)

    def staff(self, code: str) -> tuple[TestClient, str]:
        return self.world.portal(f"staff_{code.lower()}")

    def post(self, user: str = "legal_rep", **overrides: Any) -> Any:
        browser, csrf = self.portal(user)
        return browser.post(
            "/api/v1/my/demands", json={**DEMAND, **overrides}, headers={"X-CSRF-Token": csrf}
        )

    def posted(self, user: str = "legal_rep", **overrides: Any) -> dict[str, Any]:
        response = self.post(user, **overrides)
        assert response.status_code == 201, response.text
        demand: dict[str, Any] = response.json()
        return demand

    def bank_call(self, code: str, method: str, path: str, **kwargs: Any) -> Any:
        browser, csrf = self.staff(code)
        return browser.request(method, path, headers={"X-CSRF-Token": csrf}, **kwargs)

    def bank_name_order(self, demand: dict[str, Any], round_: int | None = None) -> list[str]:
        by_id = {bank_id: code for code, bank_id in self.banks.items()}
        return [
            by_id[p["bank_id"]] for p in demand["pushes"] if round_ is None or p["round"] == round_
        ]


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` under a real uvicorn server on loopback, for as long as the block runs;
    yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def session_headers(browser: TestClient, csrf: str) -> dict[str, str]:
    """A logged-in portal's cookie and CSRF token as headers, for plain-http calls (the
    platform's cookies are ``Secure``, so no client sends them to http://127.0.0.1)."""
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": csrf}
