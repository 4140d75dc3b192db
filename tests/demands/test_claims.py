"""The claim: the first pushed bank to claim wins, exactly once, however many claim at
the same moment (the rest get 409 and see it taken); banks it was not pushed to get 404.
Then the claiming bank, and only it, records contact and the outcome, each step shown to
the enterprise.

The concurrent test runs the app under a real uvicorn server and claims from several
threads released together, with staff sessions and an OAuth client; it runs on SQLite
by default and on PostgreSQL with ``FINANCE_DATABASE_URL``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from finance.demands.models import DemandEvent, FinancingDemand
from finance.lending.models import LoanApplication
from tests.authz.support import consents_token, register_client
from tests.demands.conftest import MarketFactory
from tests.demands.support import DEMAND, Market, served, session_headers

ROUNDS = 4


def test_first_claim_wins_under_concurrent_claims(make_market: MarketFactory) -> None:
    market = make_market(banks_per_round=5)
    world = market.world
    client = register_client(world)  # B1's OAuth client, beside B1's staff session
    token = consents_token(world, client)
    claimers: list[tuple[str, dict[str, str]]] = [("B1", {"Authorization": f"Bearer {token}"})]
    for code in ("B1", "B2", "B3", "B4", "B5"):
        browser, csrf = market.staff(code)
        claimers.append((code, session_headers(browser, csrf)))
    demands = [market.posted()["id"] for _ in range(ROUNDS)]

    with served(world.http.app) as base, ThreadPoolExecutor(len(claimers)) as pool:
        for demand_id in demands:
            barrier = threading.Barrier(len(claimers))

            def claim(
                headers: dict[str, str],
                demand_id: int = demand_id,
                barrier: threading.Barrier = barrier,
            ) -> httpx.Response:
                barrier.wait(timeout=30)
                return httpx.post(
                    f"{base}/api/v1/bank/demands/{demand_id}/claim", headers=headers, timeout=60
                )

            answers = list(pool.map(claim, [headers for _, headers in claimers]))
            statuses = [a.status_code for a in answers]
            assert sorted(statuses) == [200] + [409] * (len(claimers) - 1), statuses
            winner = claimers[statuses.index(200)][0]
            won = answers[statuses.index(200)].json()
            assert won["status"] == "claimed"
            assert won["claimed_by_you"] is True
            assert won["contact_phone"] == DEMAND["contact_phone"]
            for (code, _), answer in zip(claimers, answers, strict=True):
                if answer.status_code == 409:
                    body = answer.json()
                    assert answer.headers["content-type"] == "application/problem+json"
                    expected = "demand_already_claimed" if code == winner else "demand_taken"
                    assert body["error"] == expected, body
            with world.session() as session:
                row = session.get(FinancingDemand, demand_id)
                assert row is not None
                assert row.status == "claimed"
                assert row.claimed_bank_id == market.banks[winner]
                assert row.due_at is None
                claims = session.scalar(
                    select(func.count()).where(
                        DemandEvent.demand_id == demand_id, DemandEvent.kind == "claimed"
                    )
                )
            assert claims == 1
            # Everyone else sees it taken.
            for code in {"B1", "B2", "B3", "B4", "B5"} - {winner}:
                seen = market.bank_call(code, "GET", f"/api/v1/bank/demands/{demand_id}")
                assert seen.json()["status"] == "taken"
                assert seen.json()["contact_phone"] is None


def test_only_pushed_banks_may_claim(market: Market) -> None:
    demand = market.posted()
    refused = market.bank_call("B4", "POST", f"/api/v1/bank/demands/{demand['id']}/claim")
    assert refused.status_code == 404
    allowed = market.bank_call("B3", "POST", f"/api/v1/bank/demands/{demand['id']}/claim")
    assert allowed.status_code == 200
    assert allowed.json()["claimed_by_you"] is True


def test_a_later_claim_sees_it_taken(market: Market) -> None:
    demand = market.posted()
    assert market.bank_call("B2", "POST", f"/api/v1/bank/demands/{demand['id']}/claim").is_success
    late = market.bank_call("B1", "POST", f"/api/v1/bank/demands/{demand['id']}/claim")
    assert late.status_code == 409
    assert late.json()["error"] == "demand_taken"
    assert late.json()["demand_status"] == "taken"
    again = market.bank_call("B2", "POST", f"/api/v1/bank/demands/{demand['id']}/claim")
    assert again.status_code == 409
    assert again.json()["error"] == "demand_already_claimed"
    queue = market.bank_call("B1", "GET", "/api/v1/bank/demands", params={"view": "open"})
    assert queue.json()["items"] == []
    mine = market.bank_call("B2", "GET", "/api/v1/bank/demands", params={"view": "mine"})
    assert [d["id"] for d in mine.json()["items"]] == [demand["id"]]


def _application(market: Market, bank: str, uscc: str | None = None) -> int:
    with market.world.sessions.begin() as session:
        application = LoanApplication(
            uscc=uscc or market.world.uscc,
            product_id=market.products[bank],
            bank_id=market.banks[bank],
            amount_fen=DEMAND["amount_fen"],
            term_months=DEMAND["term_months"],
            applied_at=market.world.now,
        )
        session.add(application)
        session.flush()
        return application.id


def _step(market: Market, bank: str, demand_id: int, step: str, body: Any = None) -> Any:
    return market.bank_call(
        bank, "POST", f"/api/v1/bank/demands/{demand_id}/{step}", json=body or {}
    )


def test_contact_then_loan_each_step_seen_by_the_enterprise(market: Market) -> None:
    world = market.world
    demand_id = market.posted()["id"]
    assert _step(market, "B1", demand_id, "claim").status_code == 200
    world.clock.advance(hours=3)
    contacted = _step(market, "B1", demand_id, "contact", {"note": "电话已联系"})
    assert contacted.status_code == 200, contacted.text
    assert contacted.json()["status"] == "contacted"
    world.clock.advance(days=5)
    application_id = _application(market, "B1")
    loan = _step(
        market, "B1", demand_id, "outcome", {"outcome": "loan", "application_id": application_id}
    )
    assert loan.status_code == 200, loan.text
    assert loan.json()["status"] == "loan"
    assert loan.json()["application_id"] == application_id

    browser, _ = market.portal("legal_rep")
    seen = browser.get(f"/api/v1/my/demands/{demand_id}").json()
    assert seen["status"] == "loan"
    assert [e["kind"] for e in seen["events"]] == [
        "posted",
        "pushed",
        "claimed",
        "contacted",
        "loan",
    ]
    assert seen["events"][2]["bank_id"] == market.banks["B1"]
    assert seen["events"][3]["detail"]["note"] == "电话已联系"
    assert seen["events"][4]["detail"]["application_id"] == application_id
    # The figures statistics need: pushed, claimed, contacted, outcome.
    posted_at = seen["posted_at"]
    assert seen["pushes"][0]["pushed_at"] == posted_at
    assert seen["claimed_at"] == posted_at
    assert seen["contacted_at"] > seen["claimed_at"]
    assert seen["outcome_at"] > seen["contacted_at"]


def test_decline_with_a_reason_code(market: Market) -> None:
    demand_id = market.posted()["id"]
    _step(market, "B2", demand_id, "claim")
    declined = _step(
        market,
        "B2",
        demand_id,
        "outcome",
        {"outcome": "declined", "reason": "insufficient_collateral", "note": "抵押物不足"},
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert declined.json()["decline_reason"] == "insufficient_collateral"
    browser, _ = market.portal("legal_rep")
    seen = browser.get(f"/api/v1/my/demands/{demand_id}").json()
    assert seen["decline_reason"] == "insufficient_collateral"
    assert seen["events"][-1]["kind"] == "declined"
    assert seen["events"][-1]["detail"]["reason"] == "insufficient_collateral"


def test_every_illegal_step_is_refused_with_the_allowed_ones(market: Market) -> None:
    demand_id = market.posted()["id"]
    loan = {"outcome": "loan"}
    decline = {"outcome": "declined", "reason": "other"}
    # open: only a claim
    for step, body in (("contact", None), ("outcome", loan), ("outcome", decline)):
        refused = _step(market, "B1", demand_id, step, body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["allowed"] == ["claim"]
    _step(market, "B1", demand_id, "claim")
    # claimed: contact or decline, not a loan
    refused = _step(market, "B1", demand_id, "outcome", loan)
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["contact", "decline"]
    _step(market, "B1", demand_id, "contact")
    again = _step(market, "B1", demand_id, "contact")
    assert again.status_code == 409
    assert again.json()["allowed"] == ["decline", "loan"]
    assert _step(market, "B1", demand_id, "outcome", decline).status_code == 200
    # closed: nothing
    for step, body in (("claim", None), ("contact", None), ("outcome", loan)):
        closed = _step(market, "B1", demand_id, step, body)
        assert closed.status_code == 409
        assert closed.json()["allowed"] == []


def test_a_decline_may_come_before_contact(market: Market) -> None:
    demand_id = market.posted()["id"]
    _step(market, "B1", demand_id, "claim")
    declined = _step(market, "B1", demand_id, "outcome", {"outcome": "declined", "reason": "other"})
    assert declined.status_code == 200
    assert declined.json()["contacted_at"] is None


def test_only_the_claiming_bank_records_contact_and_outcome(market: Market) -> None:
    demand_id = market.posted()["id"]
    _step(market, "B1", demand_id, "claim")
    for bank, status in (("B2", 409), ("B4", 404)):
        for step, body in (("contact", None), ("outcome", {"outcome": "loan"})):
            refused = _step(market, bank, demand_id, step, body)
            assert refused.status_code == status, (bank, step, refused.text)
    assert _step(market, "B1", demand_id, "contact").status_code == 200


def test_the_application_must_be_this_enterprises_at_this_bank(market: Market) -> None:
    demand_id = market.posted()["id"]
    _step(market, "B1", demand_id, "claim")
    _step(market, "B1", demand_id, "contact")
    for application_id in (
        _application(market, "B2"),  # another bank's
        _application(market, "B1", uscc=market.world.other_uscc),  # another enterprise's
        10**12,  # none at all
    ):
        refused = _step(
            market,
            "B1",
            demand_id,
            "outcome",
            {"outcome": "loan", "application_id": application_id},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["pointer"] == "/application_id"
    # A loan whose application is not on the platform yet is recorded without one.
    assert _step(market, "B1", demand_id, "outcome", {"outcome": "loan"}).status_code == 200


def test_a_withdrawal_racing_claims_always_lands(
    make_market: MarketFactory,
) -> None:
    """The enterprise withdraws at the moment three banks claim. The withdrawal is legal
    whatever the claims do (from ``open`` and from ``claimed``), so it always lands: when
    a claim lands between its read and its write, it is taken again from ``claimed``. At
    most one claim lands, and only before the withdrawal; never a claim recorded after
    it, never two claims."""
    market = make_market(banks_per_round=3)
    world = market.world
    rep, rep_csrf = market.portal("legal_rep")
    parties: list[tuple[str, dict[str, str]]] = [("enterprise", session_headers(rep, rep_csrf))]
    for code in ("B1", "B2", "B3"):
        browser, csrf = market.staff(code)
        parties.append((code, session_headers(browser, csrf)))

    with served(world.http.app) as base, ThreadPoolExecutor(len(parties)) as pool:
        for _ in range(ROUNDS):
            demand_id = market.posted()["id"]
            barrier = threading.Barrier(len(parties))

            def act(
                party: tuple[str, dict[str, str]],
                demand_id: int = demand_id,
                barrier: threading.Barrier = barrier,
            ) -> httpx.Response:
                who, headers = party
                path = (
                    f"/api/v1/my/demands/{demand_id}/withdraw"
                    if who == "enterprise"
                    else f"/api/v1/bank/demands/{demand_id}/claim"
                )
                barrier.wait(timeout=30)
                return httpx.post(f"{base}{path}", headers=headers, timeout=60)

            answers = dict(zip([who for who, _ in parties], pool.map(act, parties), strict=True))
            statuses = {who: answer.status_code for who, answer in answers.items()}
            assert statuses["enterprise"] == 200, answers["enterprise"].text
            claims = [who for who in ("B1", "B2", "B3") if statuses[who] == 200]
            assert len(claims) <= 1, statuses
            for who in {"B1", "B2", "B3"} - set(claims):
                assert statuses[who] == 409, statuses
                assert answers[who].json()["error"] in ("demand_taken", "demand_withdrawn")
            with world.session() as session:
                row = session.get(FinancingDemand, demand_id)
                assert row is not None
                kinds = list(
                    session.scalars(
                        select(DemandEvent.kind)
                        .where(DemandEvent.demand_id == demand_id)
                        .order_by(DemandEvent.id)
                    )
                )
            assert row.status == "withdrawn"
            assert kinds.count("claimed") == len(claims)
            assert kinds.count("withdrawn") == 1
            assert kinds[-1] == "withdrawn"  # nothing after it
            if claims:
                assert row.claimed_bank_id == market.banks[claims[0]]
