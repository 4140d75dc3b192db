"""Builders for the lending tests: an online product version of the world's bank, the
bank's approved OAuth client, a live credit model, and the HTTP steps of the journey."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from credit.dataset import platform_training_set
from credit.registry import promote, register
from credit.train import train
from finance.core.settings import Settings
from products.models import LoanProduct, ProductVersion
from tests.authz.support import World, consents_token, register_client
from tests.credit.builders import build_province

POLICY: dict[str, Any] = {
    "approve_min_score": 300,
    "refer_min_score": 300,
    "amount": {"combine": "min", "terms": [{"fact": "tax_paid_12m", "times": "100"}]},
    "rates": {"A": "3.65", "B": "4.2", "C": "5.5", "D": "5.9", "E": "5.95"},
}


def online_version(
    session: Session,
    bank_id: int,
    *,
    code: str | None = None,
    eligibility: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = POLICY,
    categories: tuple[str, ...] = ("tax",),
    auto_decision: bool = True,
) -> int:
    product = LoanProduct(bank_id=bank_id, code=code or f"P-{secrets.token_hex(3)}")
    session.add(product)
    session.flush()
    now = dt.datetime.now(dt.UTC)
    version = ProductVersion(
        product_id=product.id,
        bank_id=bank_id,
        number=1,
        status="online",
        name="税易贷",
        name_en="Tax loan",
        description="",
        guarantee="pure_credit",
        min_amount_fen=1_000_000,
        max_amount_fen=300_000_000,
        default_amount_fen=10_000_000,
        min_term_months=3,
        max_term_months=36,
        rate_min_pct=Decimal("3.45"),
        rate_max_pct=Decimal("6"),
        repayment_methods=["equal_instalment", "equal_principal", "interest_only", "bullet"],
        fees=[{"name": "手续费", "kind": "fixed", "amount_fen": 10_000}],
        cities=[],
        industries=[],
        sizes=[],
        data_categories=list(categories),
        consent_months=24,
        eligibility=eligibility or [],
        policy=policy,
        auto_decision=auto_decision,
        created_by="tests",
        created_at=now,
        updated_at=now,
        online_at=now,
    )
    session.add(version)
    session.flush()
    return version.id


def live_model(settings: Settings, session: Session) -> None:
    """Train and promote a model on a small seeded province (about 15 s)."""
    build_province(session, enterprises=300, months=36, seed=11)
    result = train(platform_training_set(session, dt.date(2026, 1, 1)), seed=1)
    row = register(session, result, settings.resolved_data_dir, created_by="tests")
    promote(session, row.version, by="tests")
    session.commit()


class Journey:
    """The world's enterprise (legal_rep) and bank (bank_admin, its OAuth client) going
    through the API."""

    def __init__(self, world: World, version_id: int) -> None:
        self.world = world
        self.version_id = version_id
        self.bank = register_client(world)
        self.rep, self.rep_csrf = world.portal("legal_rep")
        self.officer, self.officer_csrf = world.portal("bank_admin")

    def enterprise(self, method: str, path: str, user: str = "legal_rep", **kwargs: Any) -> Any:
        browser, csrf = self.world.portal(user)
        headers = {"X-CSRF-Token": csrf, **kwargs.pop("headers", {})}
        return browser.request(method, path, headers=headers, **kwargs)

    def bank_staff(self, method: str, path: str, user: str = "bank_admin", **kwargs: Any) -> Any:
        browser, csrf = self.world.portal(user)
        return browser.request(method, path, headers={"X-CSRF-Token": csrf}, **kwargs)

    def bank_client(self, method: str, path: str, **kwargs: Any) -> Any:
        token = consents_token(self.world, self.bank)
        return self.world.http.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def draft(self, amount_fen: int = 50_000_000, **overrides: Any) -> dict[str, Any]:
        body = {
            "product_version_id": self.version_id,
            "amount_fen": amount_fen,
            "term_months": 12,
            "repayment_method": "equal_instalment",
            "purpose": "流动资金周转",
            **overrides,
        }
        response = self.enterprise("POST", "/api/v1/applications", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def submit(self, application_id: int, key: str | None = None, consent: bool = True) -> Any:
        return self.enterprise(
            "POST",
            f"/api/v1/applications/{application_id}/submit",
            json={"consent": consent},
            headers={"Idempotency-Key": key or secrets.token_hex(8)},
        )

    def apply(self, amount_fen: int = 50_000_000) -> dict[str, Any]:
        draft = self.draft(amount_fen)
        response = self.submit(draft["id"])
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def application(self, application_id: int) -> dict[str, Any]:
        response = self.enterprise("GET", f"/api/v1/applications/{application_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def wait_for(condition: Callable[[], Any], seconds: float = 90.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {seconds}s")
