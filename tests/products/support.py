"""Builders for the catalogue tests: valid product terms, and calls made as a named user
(portal session with its CSRF token) or as a bank's OAuth client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.authz.support import BankClientKeys, World


def terms(**overrides: Any) -> dict[str, Any]:
    """Valid terms of a pure-credit tax loan (amounts in fen, rates in annual percent)."""
    return {
        "name": "税易贷",
        "name_en": "Tax e-Loan",
        "description": "按纳税额核定额度的纯信用贷款",
        "guarantee": "pure_credit",
        "min_amount_fen": 10_000_000,
        "max_amount_fen": 300_000_000,
        "default_amount_fen": 50_000_000,
        "min_term_months": 6,
        "max_term_months": 12,
        "rate_min_pct": "3.850",
        "rate_max_pct": "6.500",
        "repayment_methods": ["equal_instalment", "interest_only"],
        "fees": [{"kind": "percent", "name": "服务费", "percent": "0.3"}],
        "cities": [],
        "industries": [],
        "sizes": ["micro", "small"],
        "data_categories": ["registration", "tax"],
        "consent_months": 24,
        "eligibility": [
            {"fact": "months_in_operation", "op": ">=", "value": 24},
            {"fact": "tax_credit_rating", "op": "at_least", "value": "B"},
        ],
        "policy": {
            "approve_min_score": 650,
            "refer_min_score": 600,
            "amount": {"combine": "min", "terms": [{"fact": "tax_paid_12m", "times": "8"}]},
            "rates": {"A": "3.85", "B": "4.5", "C": "5.5", "D": "6.5"},
        },
        "auto_decision": True,
        **overrides,
    }


@dataclass
class Catalogue(World):
    banks: dict[str, int] = field(default_factory=dict)

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> Any:
        """``method path`` as ``user`` (None: anonymous)."""
        if user is None:
            return self.http.request(method, path, **kwargs)
        browser, csrf = self.portal(user)
        headers = {"X-CSRF-Token": csrf, **kwargs.pop("headers", {})}
        return browser.request(method, path, headers=headers, **kwargs)

    def create(self, user: str = "zzb_staff", code: str = "TAX-1", **overrides: Any) -> Any:
        response = self.call(
            user, "POST", "/api/v1/bank/products", json={"code": code, "terms": terms(**overrides)}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def fire(
        self,
        user: str,
        product_id: int,
        number: int,
        event: str,
        reason: str | None = None,
        side: str | None = None,
    ) -> Any:
        side = side or ("ops" if "officer" in user or user.startswith("ops") else "bank")
        body: dict[str, Any] = {"event": event}
        if reason is not None:
            body["reason"] = reason
        return self.call(
            user,
            "POST",
            f"/api/v1/{side}/products/{product_id}/versions/{number}/transitions",
            json=body,
        )

    def online(self, user: str = "zzb_staff", code: str = "TAX-1", **overrides: Any) -> int:
        """A product of ``user``'s bank with version 1 online; returns its id."""
        product_id: int = self.create(user, code, **overrides)["product_id"]
        assert self.fire(user, product_id, 1, "submit").status_code == 200
        approved = self.fire("ops_admin", product_id, 1, "approve", "meets the rules")
        assert approved.status_code == 200, approved.text
        return product_id


def client_token(world: World, bank: BankClientKeys, scope: str) -> str:
    """A client-credentials access token of ``bank``'s client for ``scope``."""
    response = world.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope, **bank.assertion(world)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == scope
    token: str = response.json()["access_token"]
    return token
