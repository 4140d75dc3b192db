"""Property: nothing outside the consent. Over random consents (categories, date ranges,
decisions, revocations, expiries, another bank's consents and tokens) and random calls
(the records endpoint with random dates, and the profile), a call is served only under a
live consent of that bank for that enterprise and category, and every value of every
section of a served answer is dated inside the consented range:

- records: each record's date lies inside the consented range (and the asked dates);
- profile: each section's record dates (``latest_period``, ``record_date``,
  ``figures_date``) lie inside it, and each section equals the same section computed for
  a twin enterprise that holds only the records dated inside the range (so no figure
  draws on a record dated outside it, before its start or after its end).

The enterprise has records of every profiled category at dates before, inside and after
any range (registration snapshots included: an establishment years before, changes and
annual reports with different figures throughout).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from authz.accounts import service as accounts
from authz.consents import service as consents
from authz.models import Consent, IssuedToken, OAuthClient, Role, User, UserKind
from authz.oauth import jwt_access_token
from finance.enterprises.models import Enterprise
from finance.govdata.categories import REGISTRY, Category, Kind, Period
from finance.govdata.models import data_table
from tests.authz.support import (
    BASE,
    ID_NUMBER,
    BankClientKeys,
    World,
    call_data,
    register_client,
    uscc_for,
)

START = dt.date(2024, 11, 1)
MONTHS = [dt.date(2024 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(24)]
LAST_DAY = dt.date(2026, 10, 31)
PROFILED = [
    "registration",
    "tax",
    "social_insurance",
    "housing_fund",
    "utilities",
    "judicial",
    "penalties",
    "customs",
    "ip",
    "procurement",
]
DATE_FIELDS = ("latest_period", "record_date", "figures_date")


def _day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


DAYS = (LAST_DAY - START).days


def _value(category: Category, column: Any, day: dt.date, serial: int, rng: random.Random) -> Any:
    if column.name == category.date_column:
        return day
    kind = column.kind
    if kind is Kind.DATE or kind is Kind.MONTH:
        return dt.date(2015, 3, 1)
    if kind is Kind.ENUM:
        return rng.choice([choice.code for choice in column.choices])
    if kind is Kind.INT:
        return rng.randint(0, 5000)
    if kind is Kind.MONEY:
        return rng.randint(0, 10**9)
    if kind is Kind.BOOL:
        return rng.random() < 0.3
    if kind is Kind.ID_NUMBER:
        return ID_NUMBER
    if kind is Kind.DIVISION:
        return "410100"
    if kind is Kind.INDUSTRY:
        return "13"
    text = f"{column.name[:6]}-{day:%Y%m%d}-{serial}"
    return text[: column.max_length or 64]


def _records(uscc: str, batch_id: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Records of every profiled category for one enterprise, over the 24 months."""
    rng = random.Random(seed)
    serial = itertools.count()
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in PROFILED:
        category = REGISTRY[name]
        if category.period is Period.MONTHLY:
            days = list(MONTHS)
        else:
            days = sorted({_day(rng.randint(0, DAYS)) for _ in range(8)})
        rows[name] = []
        for day in days:
            row = {c.db_name: _value(category, c, day, next(serial), rng) for c in category.columns}
            if name == "registration":
                row["event_type"] = rng.choice(["change", "annual_report"])
                if row["event_type"] == "change":  # changes report no size figures
                    row["employees"] = row["revenue_fen"] = row["total_assets_fen"] = None
                row["name"] = f"属性企业-{day:%Y%m%d}"
            if name == "ip":
                row["status"] = rng.choice(["valid", "pledged"])
            rows[name].append(row)
    establishment = dict(rows["registration"][0])
    establishment.update(
        event_date=dt.date(2015, 3, 1), event_type="establishment", name="属性企业"
    )
    rows["registration"].insert(0, establishment)
    for category_rows in rows.values():
        for row in category_rows:
            row.update(
                uscc=uscc,
                source_department="tests",
                batch_id=batch_id,
                ingested_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                as_of_date=LAST_DAY,
            )
    return rows


@dataclass
class Bank:
    keys: BankClientKeys
    client: str


@dataclass
class Model:
    consent_id: str
    bank: int
    uscc: str
    categories: list[str]
    data_from: dt.date
    data_to: dt.date
    expires_at: dt.datetime
    status: str

    def live(self, now: dt.datetime) -> bool:
        return self.status == "Authorised" and now < self.expires_at


consent_spec = st.fixed_dictionaries(
    {
        "bank": st.integers(0, 1),
        "enterprise": st.sampled_from(["own", "own", "other"]),
        "categories": st.lists(st.sampled_from(PROFILED), min_size=1, max_size=4, unique=True),
        "span": st.tuples(st.integers(0, DAYS), st.integers(0, DAYS)).map(sorted),
        "lifetime_minutes": st.integers(1, 600),
        "decision": st.sampled_from(["Authorised", "Authorised", "Authorised", "Rejected"]),
    }
)
step = st.one_of(
    st.fixed_dictionaries({"kind": st.just("advance"), "minutes": st.integers(0, 240)}),
    st.fixed_dictionaries({"kind": st.just("revoke"), "index": st.integers(0, 5)}),
    st.fixed_dictionaries(
        {
            "kind": st.just("records"),
            "index": st.integers(0, 5),
            "caller": st.sampled_from(["holder", "holder", "other_bank"]),
            # Most calls ask for a consented category, so both outcomes are common.
            "aligned": st.sampled_from([True, True, False]),
            "category": st.sampled_from(PROFILED),
            "dates": st.one_of(
                st.none(), st.tuples(st.integers(0, DAYS), st.integers(0, DAYS)).map(sorted)
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("profile"),
            "index": st.integers(0, 5),
            "caller": st.sampled_from(["holder", "holder", "holder", "other_bank"]),
        }
    ),
)


COVERING: dict[str, Any] = {
    "bank": 0,
    "enterprise": "own",
    "categories": ["registration", "tax", "social_insurance", "judicial"],
    "span": (100, 500),
    "lifetime_minutes": 60,
    "decision": "Authorised",
}
RECORDS: dict[str, Any] = {
    "kind": "records",
    "index": 0,
    "caller": "holder",
    "aligned": True,
    "category": "tax",
    "dates": None,
}
PROFILE: dict[str, Any] = {"kind": "profile", "index": 0, "caller": "holder"}


def _token(world: World, bank: Bank, consent_id: str, categories: list[str]) -> str:
    """An access token of ``bank`` naming ``consent_id`` (which may be another bank's:
    the guard must not serve it)."""
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    scope = " ".join(f"data:{c}" for c in sorted(categories))
    token, jti, expires_at = jwt_access_token.issue(
        runtime.keyring,
        issuer=BASE,
        client_id=bank.client,
        subject="user:1",
        scope=scope,
        now=world.now,
        jkt=bank.keys.dpop_key.thumbprint(),
        consent_id=consent_id,
    )
    with world.sessions.begin() as session:
        session.add(
            IssuedToken(
                jti=jti,
                client_id=bank.client,
                consent_id=consent_id,
                grant_type="authorization_code",
                scope=scope,
                dpop_jkt=bank.keys.dpop_key.thumbprint(),
                issued_at=world.now,
                expires_at=expires_at,
            )
        )
    return token


def _consent(
    world: World, bank: Bank, user_id: int, categories: list[str], span: tuple[dt.date, dt.date]
) -> str:
    with world.sessions.begin() as session:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == bank.client))
        user = session.get(User, user_id)
        assert client is not None
        assert user is not None
        assert user.uscc is not None
        consent = consents.create(
            session,
            client=client,
            uscc=user.uscc,
            categories=categories,
            data_from=span[0],
            data_to=span[1],
            purpose="property",
            expires_at=world.now + dt.timedelta(days=1),
            max_calls_per_day=10_000,
            now=world.now,
        )
        consents.authorise(session, consent, user, world.now)
        return consent.id


class Twins:
    """Enterprises holding only the records of the original dated inside a range."""

    def __init__(self, world: World, records: dict[str, list[dict[str, Any]]]) -> None:
        self.world, self.records, self.serial = world, records, itertools.count(500)

    def make(self, data_from: dt.date, data_to: dt.date) -> tuple[str, int]:
        uscc = uscc_for(next(self.serial))
        with self.world.sessions.begin() as session:
            original = session.get(Enterprise, self.world.uscc)
            assert original is not None
            fields = {c.name: getattr(original, c.name) for c in Enterprise.__table__.columns}
            # A registry row unlike the original's: the profile must not read it.
            fields.update(uscc=uscc, employees=999_999, revenue_fen=1, name="孪生企业")
            session.add(Enterprise(**fields))
            session.flush()
            for name, rows in self.records.items():
                date_column = REGISTRY[name].date_column
                inside = [
                    {**row, "uscc": uscc}
                    for row in rows
                    if data_from <= row[date_column] <= data_to
                ]
                if inside:
                    session.execute(insert(data_table(name)), inside)
            user = accounts.create_user(
                session,
                username=f"twin_{uscc}",
                password="correct horse battery",
                kind=UserKind.ENTERPRISE,
                roles=[Role.LEGAL_REP],
                now=self.world.now,
                uscc=uscc,
            )
            user.authenticated_at = self.world.now
            session.flush()
            return uscc, user.id


def _without_identity(section: dict[str, Any], uscc: str) -> dict[str, Any]:
    return {k: v for k, v in section.items() if v != uscc}


def _check_records(answer: dict[str, Any], category: str, low: dt.date, high: dt.date) -> int:
    date_column = REGISTRY[category].date_column
    for item in answer["items"]:
        day = dt.date.fromisoformat(item[date_column])
        assert low <= day <= high, (category, item)
    return len(answer["items"])


def _check_profile_dates(answer: dict[str, Any], low: dt.date, high: dt.date) -> int:
    checked = 0
    for name, section in answer["categories"].items():
        for field in DATE_FIELDS:
            if section.get(field) is not None:
                day = dt.date.fromisoformat(section[field])
                assert low <= day <= high, (name, field, section)
                checked += 1
    return checked


def test_nothing_outside_the_consent(world: World) -> None:
    with world.sessions.begin() as session:
        batch_id = session.execute(select(data_table("tax").c.batch_id).limit(1)).scalar_one()
        session.execute(data_table("tax").delete().where(data_table("tax").c.uscc == world.uscc))
        records = _records(world.uscc, batch_id, seed=7)
        for name, rows in records.items():
            session.execute(insert(data_table(name)), rows)
    world.add_user("second_admin", UserKind.BANK, [Role.BANK_ADMIN], bank_id=world.bank_id)
    banks = [
        Bank(keys, keys.client_id)
        for keys in (register_client(world), register_client(world, admin="second_admin"))
    ]
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    runtime.settings = runtime.settings.model_copy(update={"client_rate_per_minute": 10**6})
    twins = Twins(world, records)
    seen = {"records": 0, "record_dates": 0, "profiles": 0, "profile_dates": 0, "refused": 0}

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(specs=st.lists(consent_spec, min_size=1, max_size=4), steps=st.lists(step, max_size=8))
    # Always one scenario that is served (records and profile) and then refused.
    @example(specs=[COVERING], steps=[RECORDS, PROFILE, {"kind": "revoke", "index": 0}, PROFILE])
    def scenario(specs: list[dict[str, Any]], steps: list[dict[str, Any]]) -> None:
        models: list[Model] = []
        with world.sessions.begin() as session:
            for spec in specs:
                owner = "legal_rep" if spec["enterprise"] == "own" else "other_rep"
                user = session.get(User, world.users[owner].id)
                client = session.scalar(
                    select(OAuthClient).where(OAuthClient.client_id == banks[spec["bank"]].client)
                )
                assert user is not None
                assert user.uscc is not None
                assert client is not None
                first, last = spec["span"]
                consent = consents.create(
                    session,
                    client=client,
                    uscc=user.uscc,
                    categories=spec["categories"],
                    data_from=_day(first),
                    data_to=_day(last),
                    purpose="property",
                    expires_at=world.now + dt.timedelta(minutes=spec["lifetime_minutes"]),
                    max_calls_per_day=10_000,
                    now=world.now,
                )
                if spec["decision"] == "Authorised":
                    consents.authorise(session, consent, user, world.now)
                else:
                    consents.reject(session, consent, user, world.now)
                models.append(
                    Model(
                        consent.id,
                        spec["bank"],
                        user.uscc,
                        list(spec["categories"]),
                        consent.data_from,
                        consent.data_to,
                        consent.expires_at,
                        consent.status,
                    )
                )
        for action in steps:
            if action["kind"] == "advance":
                world.clock.advance(minutes=action["minutes"])
                continue
            model = models[action["index"] % len(models)]
            if action["kind"] == "revoke":
                with world.sessions.begin() as session:
                    consent = session.get(Consent, model.consent_id)
                    assert consent is not None
                    if consents.is_live(consent, world.now):
                        consents.revoke(session, consent, "user:test", world.now)
                        model.status = "Revoked"
                continue
            holder = action["caller"] == "holder"
            bank = banks[model.bank if holder else 1 - model.bank]
            token = _token(world, bank, model.consent_id, model.categories)
            served_expected = holder and model.live(world.now)
            base = f"/api/v1/data/enterprises/{model.uscc}"
            if action["kind"] == "records":
                category = model.categories[0] if action["aligned"] else action["category"]
                params = None
                low, high = model.data_from, model.data_to
                if action["dates"] is not None:
                    asked = (_day(action["dates"][0]), _day(action["dates"][1]))
                    params = {"date_from": str(asked[0]), "date_to": str(asked[1])}
                    served_expected &= model.data_from <= asked[0] and asked[1] <= model.data_to
                    low, high = max(low, asked[0]), min(high, asked[1])
                served_expected &= category in model.categories
                response = call_data(world, bank.keys, token, f"{base}/{category}", params=params)
                assert (response.status_code == 200) == served_expected, (model, action)
                if response.status_code == 200:
                    seen["records"] += 1
                    seen["record_dates"] += _check_records(response.json(), category, low, high)
                else:
                    assert response.status_code in (401, 403, 404), response.text
                    seen["refused"] += 1
                continue
            response = call_data(world, bank.keys, token, f"{base}/profile")
            assert (response.status_code == 200) == served_expected, (model, action)
            if response.status_code != 200:
                assert response.status_code in (401, 403, 404), response.text
                seen["refused"] += 1
                continue
            answer = response.json()
            assert sorted(answer["categories"]) == sorted(model.categories)
            seen["profiles"] += 1
            seen["profile_dates"] += _check_profile_dates(answer, model.data_from, model.data_to)
            if model.uscc != world.uscc:
                continue  # the other enterprise has no records in these categories
            twin, twin_user = twins.make(model.data_from, model.data_to)
            twin_consent = _consent(
                world, bank, twin_user, model.categories, (model.data_from, model.data_to)
            )
            twin_token = _token(world, bank, twin_consent, model.categories)
            mirrored = call_data(
                world, bank.keys, twin_token, f"/api/v1/data/enterprises/{twin}/profile"
            )
            assert mirrored.status_code == 200, mirrored.text
            for name, section in answer["categories"].items():
                assert _without_identity(section, world.uscc) == _without_identity(
                    mirrored.json()["categories"][name], twin
                ), (name, model)

    scenario()
    assert seen["records"] > 0
    assert seen["record_dates"] > 0
    assert seen["profiles"] > 0
    assert seen["profile_dates"] > 0
    assert seen["refused"] > 0
