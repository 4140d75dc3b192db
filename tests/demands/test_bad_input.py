"""Bad input to the demand market is an RFC 9457 problem with the right status, never a
500, field by field (``test_fuzz.py`` throws generated input at every operation)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.demands.support import DEMAND, Market

PROBLEM = "application/problem+json"


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount_fen", 0),
        ("amount_fen", -100),
        ("amount_fen", 10**13),
        ("amount_fen", 2**70),
        ("amount_fen", 1.5),
        ("amount_fen", "lots"),
        ("amount_fen", None),
        ("term_months", 0),
        ("term_months", 361),
        ("purpose", ""),
        ("purpose", "   "),
        ("purpose", "x" * 501),
        ("purpose", "working capital\x00"),  # PostgreSQL cannot store NUL
        ("purpose", "bell \x07"),
        ("contact_note", "after 5 pm\x1b[31m"),
        ("guarantee", "handshake"),
        ("urgency", "yesterday"),
        ("contact_channel", "pigeon"),
        ("contact_phone", "12345"),
        ("contact_phone", "138001380001"),
        ("contact_name", "x" * 65),
        ("contact_note", "x" * 201),
        ("surprise", "field"),
    ],
)
def test_bad_fields(market: Market, field: str, value: Any) -> None:
    body = _problem(market.post(**{field: value}), 422)
    assert any(field in error["loc"] for error in body["errors"]), body


@pytest.mark.parametrize("missing", ["amount_fen", "term_months", "purpose", "guarantee"])
def test_missing_fields(market: Market, missing: str) -> None:
    browser, csrf = market.portal("legal_rep")
    body = {k: v for k, v in DEMAND.items() if k != missing}
    answer = browser.post("/api/v1/my/demands", json=body, headers={"X-CSRF-Token": csrf})
    _problem(answer, 422)


def test_not_json(market: Market) -> None:
    browser, csrf = market.portal("legal_rep")
    for content in (b"{", b"[]", b"null", "金额".encode()):
        answer = browser.post(
            "/api/v1/my/demands",
            content=content,
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        _problem(answer, 422)


@pytest.mark.parametrize("demand_id", ["abc", "0", "-1", str(2**63), "1.5"])
def test_bad_ids(market: Market, demand_id: str) -> None:
    browser, _ = market.portal("legal_rep")
    _problem(browser.get(f"/api/v1/my/demands/{demand_id}"), 422)
    _problem(market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand_id}/claim"), 422)


def test_unknown_id_is_404(market: Market) -> None:
    browser, _ = market.portal("legal_rep")
    _problem(browser.get(f"/api/v1/my/demands/{2**63 - 1}"), 404)
    _problem(market.bank_call("B1", "POST", f"/api/v1/bank/demands/{2**63 - 1}/claim"), 404)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"before": 0}, {"before": 2**64}, {"view": "x"}]
)
def test_bad_queue_parameters(market: Market, params: dict[str, Any]) -> None:
    _problem(market.bank_call("B1", "GET", "/api/v1/bank/demands", params=params), 422)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"outcome": "maybe"},
        {"outcome": "declined"},
        {"outcome": "declined", "reason": "bad_vibes"},
        {"outcome": "loan", "application_id": 0},
        {"outcome": "loan", "application_id": 2**63},
        {"outcome": "loan", "application_id": "one"},
        {"outcome": "loan", "reason": "other"},
    ],
)
def test_bad_outcomes(market: Market, body: dict[str, Any]) -> None:
    demand_id = market.posted()["id"]
    market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand_id}/claim")
    market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand_id}/contact", json={})
    answer = market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand_id}/outcome", json=body)
    _problem(answer, 422)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"reason": "x" * 201}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": 42}, "reason"),
        ({"reason": "ok", "surprise": "field"}, "surprise"),
        ([], None),
        ("withdraw", None),
    ],
)
def test_bad_withdrawals(market: Market, body: Any, where: str | None) -> None:
    demand_id = market.posted()["id"]
    browser, csrf = market.portal("legal_rep")
    path = f"/api/v1/my/demands/{demand_id}/withdraw"
    answer = browser.post(path, json=body, headers={"X-CSRF-Token": csrf})
    problem = _problem(answer, 422)
    if where is not None:
        assert any(where in error["loc"] for error in problem["errors"]), problem
    # Nothing was withdrawn; a good body (or none) still withdraws it.
    assert browser.get(f"/api/v1/my/demands/{demand_id}").json()["status"] == "open"
    answer = browser.post(path, json={"reason": "x" * 200}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text


def test_a_withdrawal_needs_no_body(market: Market) -> None:
    browser, csrf = market.portal("legal_rep")
    for body in (None, {}, {"reason": None}):
        demand_id = market.posted()["id"]
        answer = browser.post(
            f"/api/v1/my/demands/{demand_id}/withdraw", json=body, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 200, (body, answer.text)
        assert answer.json()["events"][-1]["detail"] == {"reason": None}
