"""Every category in the registry is served through the same guard, and ID numbers in
the registration record reach the bank masked; the 310 flow's consent service."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from authz.consents import service as consents
from authz.models import OAuthClient, User
from finance.govdata.categories import CATEGORIES
from finance.govdata.models import data_table
from finance.lending.models import LoanApplication
from products.models import LoanProduct
from tests.authz.support import (
    BASE,
    ID_NUMBER,
    World,
    call_data,
    data_token,
    dpop_proof,
    register_client,
)


def test_every_category_is_served_and_ids_are_masked(world: World) -> None:
    with world.sessions.begin() as session:
        batch_id = session.execute(select(data_table("tax").c.batch_id).limit(1)).scalar_one()
        session.execute(
            insert(data_table("registration")),
            {
                "uscc": world.uscc,
                "event_date": dt.date(2026, 1, 5),
                "event_type": "annual_report",
                "change_item": "",
                "name": "测试企业1",
                "legal_rep_name": "张三",
                "legal_rep_id_number": ID_NUMBER,
                "founded_on": dt.date(2015, 3, 1),
                "registered_capital_fen": 100_000_000,
                "status": "active",
                "division_code": "410100",
                "industry_division": "13",
                "source_department": "market_regulation",
                "batch_id": batch_id,
                "ingested_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
                "as_of_date": dt.date(2026, 1, 31),
            },
        )
    bank = register_client(world)
    names = [c.name for c in CATEGORIES]
    _consent, token = data_token(world, bank, categories=names)
    for name in names:
        response = call_data(
            world, bank, token["access_token"], f"/api/v1/data/enterprises/{world.uscc}/{name}"
        )
        assert response.status_code == 200, (name, response.text)
    registration = call_data(
        world, bank, token["access_token"], f"/api/v1/data/enterprises/{world.uscc}/registration"
    ).json()["items"]
    assert len(registration) == 1
    masked = registration[0]["legal_rep_id_number"]
    assert masked != ID_NUMBER
    assert masked.startswith(ID_NUMBER[:3])
    assert masked.endswith(ID_NUMBER[-4:])
    profile = call_data(
        world, bank, token["access_token"], f"/api/v1/data/enterprises/{world.uscc}/profile"
    )
    assert profile.status_code == 200
    assert set(profile.json()["categories"]) == set(names)
    assert ID_NUMBER not in profile.text


def test_310_application_grants_an_authorised_consent(world: World) -> None:
    bank = register_client(world)
    with world.sessions.begin() as session:
        product = LoanProduct(bank_id=world.bank_id, code="ZZB-XYD")
        session.add(product)
        session.flush()
        application = LoanApplication(
            uscc=world.uscc,
            product_id=product.id,
            bank_id=world.bank_id,
            amount_fen=50_000_000,
            term_months=12,
        )
        session.add(application)
        session.flush()
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == bank.client_id))
        user = session.get(User, world.users["legal_rep"].id)
        assert client is not None
        assert user is not None
        consent = consents.grant_for_application(
            session,
            client=client,
            user=user,
            application_id=application.id,
            categories=["tax"],
            data_from=dt.date(2025, 11, 1),
            data_to=dt.date(2026, 10, 31),
            expires_at=world.now + dt.timedelta(days=30),
            max_calls_per_day=10,
            now=world.now,
        )
        assert consent.status == "Authorised"
        assert consent.origin == "platform"
        assert consent.application_id == application.id
        consent_id = consent.id
    response = world.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "consent_id": consent_id,
            **bank.assertion(world),
        },
        headers={"DPoP": dpop_proof(bank.dpop_key, "POST", BASE + "/oauth2/token", now=world.now)},
    )
    assert response.status_code == 200
    path = f"/api/v1/data/enterprises/{world.uscc}/tax"
    assert call_data(world, bank, response.json()["access_token"], path).status_code == 200
