"""The enterprise withdraws its demand before an outcome: the step is recorded with its
actor, time and reason, the pushed banks (the claiming one included) are told and can
take no step any more, the demand leaves their open queues and the overdue sweep passes
it by. After an outcome, or a second time, the withdrawal is a 409 naming what is
allowed; a claim landing between its read and its write does not stop it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import Select
from sqlalchemy.orm import Session

from authz.webhooks import service as webhooks
from finance.demands import service
from finance.demands.models import FinancingDemand
from finance.demands.service import MarketRules, sweep_overdue
from tests.authz.support import BASE, Receiver, consents_token, register_client
from tests.demands.conftest import MarketFactory
from tests.demands.support import Market
from tests.demands.test_overdue import EVE

LOAN = {"outcome": "loan"}
DECLINE = {"outcome": "declined", "reason": "other"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _withdraw(market: Market, demand_id: int, body: Any = None, user: str = "legal_rep") -> Any:
    browser, csrf = market.portal(user)
    return browser.post(
        f"/api/v1/my/demands/{demand_id}/withdraw", json=body, headers={"X-CSRF-Token": csrf}
    )


def _step(market: Market, bank: str, demand_id: int, step: str, body: Any = None) -> Any:
    return market.bank_call(
        bank, "POST", f"/api/v1/bank/demands/{demand_id}/{step}", json=body or {}
    )


def _queue(market: Market, bank: str, view: str) -> list[int]:
    answer = market.bank_call(bank, "GET", "/api/v1/bank/demands", params={"view": view})
    assert answer.status_code == 200, answer.text
    return [d["id"] for d in answer.json()["items"]]


def test_withdrawn_before_any_claim(market: Market) -> None:
    demand = market.posted()
    assert _queue(market, "B2", "open") == [demand["id"]]
    market.world.clock.advance(hours=2)

    withdrawn = _withdraw(market, demand["id"], {"reason": "找到了其他资金 (found the money)"})
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert body["status"] == "withdrawn"
    assert body["due_at"] is None
    assert [e["kind"] for e in body["events"]] == ["posted", "pushed", "withdrawn"]
    step = body["events"][-1]
    assert step["actor"] == f"user:{market.world.users['legal_rep'].id}"
    assert step["bank_id"] is None
    assert dt.datetime.fromisoformat(step["at"]) == market.world.now
    assert step["detail"] == {"reason": "找到了其他资金 (found the money)"}
    browser, _ = market.portal("legal_rep")
    assert browser.get(f"/api/v1/my/demands/{demand['id']}").json()["status"] == "withdrawn"

    # The pushed banks: out of the open queue, shown withdrawn, no claim any more.
    for bank in ("B1", "B2", "B3"):
        assert _queue(market, bank, "open") == []
        assert _queue(market, bank, "all") == [demand["id"]]
        seen = market.bank_call(bank, "GET", f"/api/v1/bank/demands/{demand['id']}").json()
        assert seen["status"] == "withdrawn"
        refused = _step(market, bank, demand["id"], "claim")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["error"] == "demand_withdrawn"
        assert refused.json()["allowed"] == []


def test_withdrawn_after_the_claim(market: Market) -> None:
    world = market.world
    client = register_client(world)  # B1's, to read the events B1 is sent
    token = consents_token(world, client)
    demand_id = market.posted()["id"]
    assert _step(market, "B1", demand_id, "claim").status_code == 200
    assert _step(market, "B1", demand_id, "contact").status_code == 200

    withdrawn = _withdraw(market, demand_id)  # no body: no reason
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["events"][-1]["detail"] == {"reason": None}

    # The claiming bank sees it withdrawn (still its own) and may record no outcome.
    seen = market.bank_call("B1", "GET", f"/api/v1/bank/demands/{demand_id}").json()
    assert seen["status"] == "withdrawn"
    assert seen["claimed_by_you"] is True
    assert _queue(market, "B1", "mine") == [demand_id]
    for step, body in (("outcome", LOAN), ("outcome", DECLINE), ("contact", None)):
        refused = _step(market, "B1", demand_id, step, body)
        assert refused.status_code == 409, (step, refused.text)
        assert refused.json()["error"] == "demand_withdrawn"
        assert refused.json()["allowed"] == []
    # Another pushed bank sees it withdrawn, not taken.
    other = market.bank_call("B2", "GET", f"/api/v1/bank/demands/{demand_id}").json()
    assert other["status"] == "withdrawn"
    # B1 was told: its event log has the withdrawal after the push.
    log = world.http.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).json()
    assert [e["type"] for e in log] == ["demand.pushed", "demand.withdrawn"]
    assert log[1]["data"] == {
        "demand_id": demand_id,
        "status": "withdrawn",
        "at": world.now.isoformat(),
    }

    browser, _ = market.portal("legal_rep")
    kinds = [e["kind"] for e in browser.get(f"/api/v1/my/demands/{demand_id}").json()["events"]]
    assert kinds == ["posted", "pushed", "claimed", "contacted", "withdrawn"]


def test_a_pushed_bank_gets_a_signed_demand_withdrawn_webhook(
    market: Market, receiver: Receiver
) -> None:
    world = market.world
    register_client(world, webhook_url=receiver.url)  # B1's client
    demand_id = market.posted()["id"]
    assert _step(market, "B2", demand_id, "claim").status_code == 200
    assert _withdraw(market, demand_id, {"reason": "posted by mistake"}).status_code == 200

    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    with httpx.Client() as http, world.sessions.begin() as session:
        delivered = webhooks.deliver_due(
            session, runtime.keyring, issuer=BASE, now=world.now, http=http
        )
    assert delivered == 3  # pushed, taken (by B2), withdrawn
    jwks = KeySet.import_key_set(world.http.get("/oauth2/jwks").json())
    verified = [jws.deserialize_compact(body.decode(), jwks) for body in receiver.bodies]
    assert {v.headers()["typ"] for v in verified} == {"demand-event+jwt"}
    claims = [json.loads(v.payload) for v in verified]
    assert [c["type"] for c in claims] == ["demand.pushed", "demand.taken", "demand.withdrawn"]
    # The enterprise's reason stays with the platform; banks learn the fact.
    assert claims[2]["data"] == {
        "demand_id": demand_id,
        "status": "withdrawn",
        "at": world.now.isoformat(),
    }


@pytest.mark.parametrize("outcome", [LOAN, DECLINE])
def test_refused_after_an_outcome(market: Market, outcome: dict[str, str]) -> None:
    demand_id = market.posted()["id"]
    _step(market, "B1", demand_id, "claim")
    _step(market, "B1", demand_id, "contact")
    assert _step(market, "B1", demand_id, "outcome", outcome).status_code == 200

    refused = _withdraw(market, demand_id, {"reason": "too late"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["error"] == "step_not_allowed"
    assert problem["demand_status"] == ("loan" if outcome == LOAN else "declined")
    assert problem["allowed"] == []
    browser, _ = market.portal("legal_rep")
    seen = browser.get(f"/api/v1/my/demands/{demand_id}").json()
    assert seen["status"] == problem["demand_status"]
    assert "withdrawn" not in [e["kind"] for e in seen["events"]]


def test_refused_a_second_time(market: Market) -> None:
    demand_id = market.posted()["id"]
    assert _withdraw(market, demand_id, {"reason": "first"}).status_code == 200
    again = _withdraw(market, demand_id, {"reason": "second"})
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "step_not_allowed"
    assert again.json()["demand_status"] == "withdrawn"
    assert again.json()["allowed"] == []
    browser, _ = market.portal("legal_rep")
    events = browser.get(f"/api/v1/my/demands/{demand_id}").json()["events"]
    assert [e["detail"] for e in events if e["kind"] == "withdrawn"] == [{"reason": "first"}]


def test_the_enterprise_is_offered_the_withdrawal_while_a_bank_step_is_refused(
    market: Market,
) -> None:
    # The table of steps answers per side: a bank is never offered "withdraw".
    demand_id = market.posted()["id"]
    refused = _step(market, "B1", demand_id, "contact")
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["claim"]


def test_the_overdue_sweep_passes_a_withdrawn_demand_by(make_market: MarketFactory) -> None:
    market = make_market(working_days=2, start=EVE)
    withdrawn = market.posted()
    kept = market.posted()
    assert _withdraw(market, withdrawn["id"]).status_code == 200

    # Both run out together; only the one still open is flagged.
    assert withdrawn["due_at"] == kept["due_at"]
    due = dt.datetime.fromisoformat(kept["due_at"])
    with market.world.sessions.begin() as session:
        flagged = sweep_overdue(session, due, MarketRules(3, 2)).flagged
    assert flagged == [kept["id"]]
    browser, _ = market.portal("legal_rep")
    seen = browser.get(f"/api/v1/my/demands/{withdrawn['id']}").json()
    assert seen["overdue_count"] == 0
    assert seen["push_round"] == 1
    assert [e["kind"] for e in seen["events"]] == ["posted", "pushed", "withdrawn"]


def test_a_withdrawal_overtaken_by_a_claim_is_taken_from_claimed(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B2 claims the demand after the withdrawal read it open and before it wrote: the
    withdrawal, legal from ``claimed`` too, reads the demand again and lands (it used to
    answer 409 naming ``withdraw`` as allowed). The claim stays in the history."""
    demand_id = market.posted()["id"]
    world = market.world
    real_get_scoped = service.get_scoped
    claimed: list[int] = []

    def get_scoped_then_a_claim(
        session: Session, scope: Select[FinancingDemand], wanted: int
    ) -> FinancingDemand:
        demand = real_get_scoped(session, scope, wanted)
        if not claimed:
            claimed.append(wanted)
            b2 = service.ActingBank(bank_id=market.banks["B2"], ref="user:b2-staff")
            with world.sessions.begin() as other:
                service.claim(other, wanted, b2, world.now)
        return demand

    monkeypatch.setattr(service, "get_scoped", get_scoped_then_a_claim)
    withdrawn = _withdraw(market, demand_id, {"reason": "找到了其他资金"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert claimed == [demand_id]
    body = withdrawn.json()
    assert body["status"] == "withdrawn"
    assert body["claimed_bank_id"] == market.banks["B2"]
    assert [e["kind"] for e in body["events"]] == ["posted", "pushed", "claimed", "withdrawn"]
    assert body["events"][-1]["detail"] == {"reason": "找到了其他资金"}
    seen = market.bank_call("B2", "GET", f"/api/v1/bank/demands/{demand_id}").json()
    assert (seen["status"], seen["claimed_by_you"]) == ("withdrawn", True)


def test_a_bank_step_overtaken_but_still_legal_says_so(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claiming bank's decline reads the demand claimed; its own contact lands
    before the decline writes. The decline, still legal from ``contacted``, is not
    retried: a 409 ``concurrent_demand_change`` says it may be sent again (not that the
    step is refused), and nothing of it was recorded."""
    demand_id = market.posted()["id"]
    assert _step(market, "B1", demand_id, "claim").status_code == 200
    world = market.world
    real_get_scoped = service.get_scoped
    contacted: list[int] = []

    def get_scoped_then_contact(
        session: Session, scope: Select[FinancingDemand], wanted: int
    ) -> FinancingDemand:
        demand = real_get_scoped(session, scope, wanted)
        if not contacted:
            contacted.append(wanted)
            b1 = service.ActingBank(bank_id=market.banks["B1"], ref="user:b1-staff")
            with world.sessions.begin() as other:
                service.record_contact(other, wanted, b1, world.now, "电话已联系")
        return demand

    monkeypatch.setattr(service, "get_scoped", get_scoped_then_contact)
    declined = _step(market, "B1", demand_id, "outcome", DECLINE)
    assert declined.status_code == 409, declined.text
    problem = declined.json()
    assert problem["error"] == "concurrent_demand_change"
    assert (problem["demand_status"], problem["allowed"]) == ("contacted", ["decline", "loan"])
    again = _step(market, "B1", demand_id, "outcome", DECLINE)
    assert again.status_code == 200, again.text
    kinds = [
        e["kind"]
        for e in market.portal("legal_rep")[0]
        .get(f"/api/v1/my/demands/{demand_id}")
        .json()["events"]
    ]
    assert kinds == ["posted", "pushed", "claimed", "contacted", "declined"]
