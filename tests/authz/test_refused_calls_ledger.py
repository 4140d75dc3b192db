"""Every data call that names an enterprise is in the ledger, those refused before the
guard could run included (a malformed query, an unknown category), and a refused call
made with a consent's token about that consent's enterprise is listed under the
consent's calls; a call about another enterprise is not."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from authz.models import LedgerEntry
from tests.authz.support import World, call_data, data_token, register_client


def _entries(world: World) -> list[LedgerEntry]:
    with world.session() as session:
        return list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.action == "data_call")
                .order_by(LedgerEntry.seq)
            )
        )


def _consent_calls(world: World, consent_id: str, user: str = "legal_rep") -> Any:
    browser, _ = world.portal(user)
    return browser.get(f"/api/v1/my/consents/{consent_id}/calls")


@pytest.mark.parametrize(
    ("suffix", "params", "status", "reason"),
    [
        ("tax", {"date_from": "not-a-date"}, 422, "invalid_request: query.date_from"),
        ("tax", {"date_to": "2026-02-30"}, 422, "invalid_request: query.date_to"),
        ("tax", {"limit": "0"}, 422, "invalid_request: query.limit"),
        ("tax", {"limit": "many"}, 422, "invalid_request: query.limit"),
        ("tax", {"cursor": "!!!"}, 422, "invalid_request: cursor is not one this API issued"),
        ("no_such_category", None, 404, "not_found: unknown data category 'no_such_category'"),
        ("tax", {"date_from": "2026-06-01", "date_to": "2026-01-01"}, 422, "invalid_request"),
    ],
)
def test_a_call_refused_for_its_query_is_recorded_under_its_consent(
    world: World, suffix: str, params: dict[str, str] | None, status: int, reason: str
) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    path = f"/api/v1/data/enterprises/{world.uscc}/{suffix}"
    response = call_data(world, bank, token["access_token"], path, params=params)
    assert response.status_code == status, response.text

    (entry,) = _entries(world)
    assert entry.outcome == "refused"
    assert entry.reason.startswith(reason), entry.reason
    assert (entry.uscc, entry.client_id, entry.consent_id) == (
        world.uscc,
        bank.client_id,
        consent_id,
    )
    assert entry.request_id == response.headers["x-request-id"]
    listed = _consent_calls(world, consent_id)
    assert listed.status_code == 200
    assert [(c["outcome"], c["reason"]) for c in listed.json()] == [("refused", entry.reason)]


def test_the_guard_refuses_before_the_query_is_judged(world: World) -> None:
    """Without a token, a malformed query gets the guard's 401 (nothing about the API is
    told to an anonymous caller), and the call is recorded, anonymous, for the enterprise."""
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    response = world.http.get(path, params={"date_from": "not-a-date"})
    assert response.status_code == 401
    (entry,) = _entries(world)
    assert (entry.actor, entry.uscc, entry.consent_id, entry.outcome) == (
        "anonymous",
        world.uscc,
        None,
        "refused",
    )
    own, _ = world.portal("legal_rep")
    assert [e["outcome"] for e in own.get("/api/v1/my/ledger").json()] == ["refused"]


def test_refusals_by_the_guard_are_listed_under_the_consent(world: World) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    access = token["access_token"]
    tax = f"/api/v1/data/enterprises/{world.uscc}/tax"
    outside = call_data(world, bank, access, tax, params={"date_from": "2024-01-01"})
    assert outside.status_code == 403
    scope = call_data(world, bank, access, f"/api/v1/data/enterprises/{world.uscc}/customs")
    assert scope.status_code == 403
    bad_proof = call_data(world, bank, access, tax, proof="not-a-proof")
    assert bad_proof.status_code == 401
    browser, csrf = world.portal("legal_rep")
    revoked = browser.post(
        f"/api/v1/my/consents/{consent_id}/revoke", headers={"X-CSRF-Token": csrf}
    )
    assert revoked.status_code == 200, revoked.text
    after = call_data(world, bank, access, tax)
    assert after.status_code in (401, 403)

    listed = _consent_calls(world, consent_id).json()
    reasons = [c["reason"].split(":")[0] for c in reversed(listed)]
    assert reasons == [
        "dates_outside_consent",
        "insufficient_scope",
        "invalid_dpop_proof",
        after.json()["error"],
    ]
    assert {c["outcome"] for c in listed} == {"refused"}


def test_a_call_about_another_enterprise_is_not_listed_under_the_consent(world: World) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    access = token["access_token"]
    for params in (None, {"limit": "0"}):
        path = f"/api/v1/data/enterprises/{world.other_uscc}/tax"
        response = call_data(world, bank, access, path, params=params)
        assert response.status_code == 404, response.text

    entries = _entries(world)
    assert [(e.uscc, e.consent_id, e.outcome) for e in entries] == [
        (world.other_uscc, None, "refused"),
        (world.other_uscc, None, "refused"),
    ]
    assert _consent_calls(world, consent_id).json() == []
    own, _ = world.portal("legal_rep")
    assert [e for e in own.get("/api/v1/my/ledger").json() if e["action"] == "data_call"] == []
    other, _ = world.portal("other_rep")
    assert (
        len([e for e in other.get("/api/v1/my/ledger").json() if e["action"] == "data_call"]) == 2
    )


def test_a_call_naming_no_enterprise_is_recorded_without_one(world: World) -> None:
    bank = register_client(world)
    _consent_id, token = data_token(world, bank)
    no_route = call_data(world, bank, token["access_token"], "/api/v1/data/enterprises/tax")
    assert no_route.status_code == 404  # no data endpoint: not a data call
    path = "/api/v1/data/enterprises/" + "9" * 40 + "/tax"
    response = call_data(world, bank, token["access_token"], path)
    assert response.status_code == 404
    (entry,) = _entries(world)
    assert (entry.uscc, entry.consent_id, entry.outcome) == (None, None, "refused")
