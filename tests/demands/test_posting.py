"""Posting a demand pushes it to at most N banks whose online products fit it, best fit
first; pushed banks see it in their queue (without the contact details until they claim
it) and get a signed ``demand.pushed`` webhook; nobody else sees it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select

from authz.models import ConsentEvent
from authz.webhooks import service as webhooks
from finance.demands.models import DemandPush, FinancingDemand
from tests.authz.support import BASE, Receiver, consents_token, register_client
from tests.demands.conftest import MarketFactory
from tests.demands.support import DEMAND, Market


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_pushed_to_the_best_fitting_banks_first(market: Market) -> None:
    demand = market.posted()

    assert demand["status"] == "open"
    assert demand["push_round"] == 1
    assert market.bank_name_order(demand) == ["B1", "B2", "B3"]
    assert [p["rank"] for p in demand["pushes"]] == [1, 2, 3]
    assert [p["fit"] for p in demand["pushes"]] == [14, 8, 6]
    # A bank's best product is the one named, not its other fitting product.
    assert demand["pushes"][0]["product_id"] == market.products["B1"]
    assert demand["amount_fen"] == DEMAND["amount_fen"]
    assert [e["kind"] for e in demand["events"]] == ["posted", "pushed"]
    pushed = demand["events"][1]
    assert pushed["actor"] == "platform"
    assert pushed["detail"]["banks"] == [market.banks[c] for c in ("B1", "B2", "B3")]


def test_how_many_banks_is_a_setting(make_market: MarketFactory) -> None:
    market = make_market(banks_per_round=5)
    demand = market.posted()
    assert market.bank_name_order(demand) == ["B1", "B2", "B3", "B4", "B5"]


def test_fit_follows_the_enterprise(make_market: MarketFactory) -> None:
    market = make_market(banks_per_round=5)
    # Pingdingshan (410400): B1's mortgage product and B3 name Zhengzhou only; X2 names
    # Pingdingshan (4); B1's pure-credit product starts lowest among the rest.
    demand = market.posted(user="other_rep")
    assert market.bank_name_order(demand) == ["B2", "X2", "B1", "B4", "B5"]


def test_only_products_that_fit_are_considered(make_market: MarketFactory) -> None:
    market = make_market(banks_per_round=20)
    demand = market.posted()
    # Every never-fitting bank (wrong guarantee, city, amount, term, industry, size, or
    # not online) is left out; all five fitting banks are in.
    assert market.bank_name_order(demand) == ["B1", "B2", "B3", "B4", "B5"]


def test_a_pure_credit_demand_reaches_only_pure_credit_products(market: Market) -> None:
    demand = market.posted(guarantee="pure_credit")
    # B3 names the city and the size (6); B1's pure-credit product names nothing but
    # starts lowest (3.0 %), before B4 (3.5 %).
    assert market.bank_name_order(demand) == ["B3", "B1", "B4"]
    assert demand["pushes"][1]["product_id"] != market.products["B1"]


def test_amount_and_term_must_lie_within_the_ranges(make_market: MarketFactory) -> None:
    market = make_market(banks_per_round=20)
    beyond = market.posted(amount_fen=300_000_001)  # above every maximum
    assert beyond["pushes"] == []
    assert [e["kind"] for e in beyond["events"]] == ["posted", "pushed"]
    assert beyond["events"][1]["detail"]["banks"] == []
    small = market.posted(amount_fen=5_000_000, term_months=6)  # X3 and X4 fit now
    # Fit 0 ranked by starting rate (B4 3.5 %, X3 and X4 3.8 % by bank id, B5 4.0 %).
    assert market.bank_name_order(small) == ["B1", "B2", "B3", "B4", "X3", "X4", "B5"]


def test_pushed_banks_see_it_without_contact_details(market: Market) -> None:
    demand = market.posted()
    queue = market.bank_call("B2", "GET", "/api/v1/bank/demands")
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert item["id"] == demand["id"]
    assert item["status"] == "open"
    assert item["claimed_by_you"] is False
    assert item["rank"] == 2
    assert item["enterprise"]["uscc"] == market.world.uscc
    assert item["enterprise"]["size_class"] == "small"
    assert item["contact_phone"] is None
    assert item["contact_name"] is None
    assert item["purpose"] == DEMAND["purpose"]

    one = market.bank_call("B2", "GET", f"/api/v1/bank/demands/{demand['id']}")
    assert one.status_code == 200
    assert one.json()["contact_phone"] is None


def test_banks_not_pushed_see_nothing(market: Market) -> None:
    demand = market.posted()
    for code in ("B4", "X1"):
        queue = market.bank_call(code, "GET", "/api/v1/bank/demands")
        assert queue.status_code == 200
        assert queue.json()["items"] == []
        one = market.bank_call(code, "GET", f"/api/v1/bank/demands/{demand['id']}")
        assert one.status_code == 404
        assert one.headers["content-type"] == "application/problem+json"


def test_enterprise_sees_its_own_demands_only(market: Market) -> None:
    mine = market.posted()
    theirs = market.posted(user="other_rep")
    browser, _ = market.portal("legal_rep")
    listed = browser.get("/api/v1/my/demands")
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [mine["id"]]
    assert browser.get(f"/api/v1/my/demands/{mine['id']}").status_code == 200
    other = browser.get(f"/api/v1/my/demands/{theirs['id']}")
    assert other.status_code == 404
    assert other.json()["status"] == 404


def test_pages_newest_first(market: Market) -> None:
    ids = [market.posted()["id"] for _ in range(3)]
    browser, _ = market.portal("legal_rep")
    first = browser.get("/api/v1/my/demands", params={"limit": 2}).json()
    assert [d["id"] for d in first["items"]] == [ids[2], ids[1]]
    assert first["next_before"] == ids[1]
    rest = browser.get(
        "/api/v1/my/demands", params={"limit": 2, "before": first["next_before"]}
    ).json()
    assert [d["id"] for d in rest["items"]] == [ids[0]]
    assert rest["next_before"] is None


def test_signed_demand_pushed_webhook(market: Market, receiver: Receiver) -> None:
    world = market.world
    hooked = register_client(world, webhook_url=receiver.url)  # B1's client
    polled = register_client(world)  # B1's second client: log only, no webhook
    pending = register_client(world, approver=None)  # never approved: gets nothing
    demand = market.posted()

    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    with httpx.Client() as http, world.sessions.begin() as session:
        delivered = webhooks.deliver_due(
            session, runtime.keyring, issuer=BASE, now=world.now, http=http
        )
    assert delivered == 1
    jwks = KeySet.import_key_set(world.http.get("/oauth2/jwks").json())
    verified = jws.deserialize_compact(receiver.bodies[0].decode(), jwks)
    assert verified.headers()["typ"] == "demand-event+jwt"
    claims = json.loads(verified.payload)
    assert claims["type"] == "demand.pushed"
    assert claims["aud"] == hooked.client_id
    data = claims["data"]
    assert data["demand_id"] == demand["id"]
    assert data["rank"] == 1
    assert data["product_id"] == market.products["B1"]
    assert data["amount_fen"] == DEMAND["amount_fen"]
    assert "contact_phone" not in data
    assert dt.datetime.fromisoformat(data["claim_by"]) == dt.datetime.fromisoformat(
        demand["due_at"]
    )

    # The second client polls its event log; the pending client has no event at all.
    token = consents_token(world, polled)
    log = world.http.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert log.status_code == 200
    assert [(e["type"], e["consent_id"]) for e in log.json()] == [("demand.pushed", None)]
    # Another pushed bank claims it: B1's clients learn it is taken.
    assert market.bank_call("B2", "POST", f"/api/v1/bank/demands/{demand['id']}/claim").is_success
    log = world.http.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert [e["type"] for e in log.json()] == ["demand.pushed", "demand.taken"]
    assert log.json()[1]["data"] == {
        "demand_id": demand["id"],
        "status": "taken",
        "at": world.now.isoformat(),
    }
    with world.session() as session:
        assert (
            session.scalar(select(ConsentEvent).where(ConsentEvent.client_id == pending.client_id))
            is None
        )


def test_figures_kept_for_statistics(market: Market) -> None:
    demand = market.posted()
    with market.world.session() as session:
        row = session.get(FinancingDemand, demand["id"])
        assert row is not None
        assert row.posted_at == market.world.now
        times = session.scalars(
            select(DemandPush.pushed_at).where(DemandPush.demand_id == demand["id"])
        ).all()
    assert times == [market.world.now] * 3
