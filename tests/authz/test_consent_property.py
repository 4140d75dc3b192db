"""Property: over random consents, calls and clock moves, a data call is served if and
only if a consent covering that client, enterprise, category and dates is Authorised and
unexpired at that moment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from authz.consents import service as consents
from authz.models import Consent, IssuedToken, OAuthClient, User
from authz.oauth import jwt_access_token
from tests.authz.support import BASE, BankClientKeys, World, call_data, register_client

MONTHS = [dt.date(2024 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(24)]
CATEGORIES = ["tax", "social_insurance", "utilities"]


@dataclass
class Model:
    consent_id: str
    uscc: str
    categories: set[str]
    data_from: dt.date
    data_to: dt.date
    expires_at: dt.datetime
    status: str  # "Authorised" | "Rejected" | "Revoked" | "AwaitingAuthorisation"

    def covers(
        self, uscc: str, category: str, start: dt.date, end: dt.date, now: dt.datetime
    ) -> bool:
        return (
            self.status == "Authorised"
            and now < self.expires_at
            and uscc == self.uscc
            and category in self.categories
            and self.data_from <= start <= end <= self.data_to
        )


consent_spec = st.fixed_dictionaries(
    {
        "enterprise": st.sampled_from(["own", "other"]),
        "categories": st.sets(st.sampled_from(CATEGORIES), min_size=1),
        "span": st.tuples(st.integers(0, 23), st.integers(0, 23)).map(sorted),
        "lifetime_minutes": st.integers(1, 600),
        "decision": st.sampled_from(["Authorised", "Authorised", "Rejected", "Awaiting"]),
    }
)
step = st.one_of(
    st.fixed_dictionaries({"kind": st.just("advance"), "minutes": st.integers(0, 240)}),
    st.fixed_dictionaries({"kind": st.just("revoke"), "index": st.integers(0, 5)}),
    st.fixed_dictionaries(
        {
            "kind": st.just("call"),
            "index": st.integers(0, 5),
            # Most calls ask for what the consent names, so both outcomes are common.
            "aligned": st.booleans(),
            "enterprise": st.sampled_from(["own", "other"]),
            "category": st.sampled_from(CATEGORIES),
            "span": st.tuples(st.integers(0, 23), st.integers(0, 23)).map(sorted),
        }
    ),
)


COVERING: dict[str, object] = {
    "enterprise": "own",
    "categories": {"tax"},
    "span": [12, 23],
    "lifetime_minutes": 60,
    "decision": "Authorised",
}
ALIGNED_CALL: dict[str, object] = {
    "kind": "call",
    "index": 0,
    "aligned": True,
    "enterprise": "own",
    "category": "tax",
    "span": [12, 23],
}


def _token(world: World, bank: BankClientKeys, consent_id: str, scope: str) -> str:
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    token, jti, expires_at = jwt_access_token.issue(
        runtime.keyring,
        issuer=BASE,
        client_id=bank.client_id,
        subject="user:1",
        scope=scope,
        now=world.now,
        jkt=bank.dpop_key.thumbprint(),
        consent_id=consent_id,
    )
    with world.sessions.begin() as session:
        session.add(
            IssuedToken(
                jti=jti,
                client_id=bank.client_id,
                consent_id=consent_id,
                grant_type="authorization_code",
                scope=scope,
                dpop_jkt=bank.dpop_key.thumbprint(),
                issued_at=world.now,
                expires_at=expires_at,
            )
        )
    return token


def test_served_iff_covered(world: World) -> None:
    bank = register_client(world)
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    runtime.settings = runtime.settings.model_copy(update={"client_rate_per_minute": 10**6})
    seen = {"served": 0, "refused": 0}

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(specs=st.lists(consent_spec, min_size=1, max_size=4), steps=st.lists(step, max_size=12))
    # Always run one scenario that is served and then refused (the consent expires).
    @example(
        specs=[COVERING],
        steps=[ALIGNED_CALL, {"kind": "advance", "minutes": 61}, ALIGNED_CALL],
    )
    def scenario(specs: list[dict[str, object]], steps: list[dict[str, object]]) -> None:
        models: list[Model] = []
        with world.sessions.begin() as session:
            client = session.scalar(
                select(OAuthClient).where(OAuthClient.client_id == bank.client_id)
            )
            assert client is not None
            for spec in specs:
                owner = "legal_rep" if spec["enterprise"] == "own" else "other_rep"
                user = session.get(User, world.users[owner].id)
                assert user is not None
                assert user.uscc is not None
                first, last = spec["span"]  # type: ignore[misc]
                consent = consents.create(
                    session,
                    client=client,
                    uscc=user.uscc,
                    categories=spec["categories"],  # type: ignore[arg-type]
                    data_from=MONTHS[first],
                    data_to=MONTHS[last],
                    purpose="property",
                    expires_at=world.now + dt.timedelta(minutes=spec["lifetime_minutes"]),  # type: ignore[operator]
                    max_calls_per_day=10_000,
                    now=world.now,
                )
                if spec["decision"] == "Authorised":
                    consents.authorise(session, consent, user, world.now)
                elif spec["decision"] == "Rejected":
                    consents.reject(session, consent, user, world.now)
                models.append(
                    Model(
                        consent.id,
                        user.uscc,
                        set(spec["categories"]),  # type: ignore[call-overload]
                        consent.data_from,
                        consent.data_to,
                        consent.expires_at,
                        consent.status,
                    )
                )
        for action in steps:
            if action["kind"] == "advance":
                world.clock.advance(minutes=action["minutes"])  # type: ignore[arg-type]
            elif action["kind"] == "revoke":
                model = models[int(action["index"]) % len(models)]  # type: ignore[call-overload]
                with world.sessions.begin() as session:
                    consent = session.get(Consent, model.consent_id)
                    assert consent is not None
                    if consents.is_live(consent, world.now):
                        consents.revoke(session, consent, "user:test", world.now)
                        model.status = "Revoked"
            else:
                model = models[int(action["index"]) % len(models)]  # type: ignore[call-overload]
                uscc = world.uscc if action["enterprise"] == "own" else world.other_uscc
                category = str(action["category"])
                first, last = action["span"]  # type: ignore[misc]
                if action["aligned"]:
                    uscc, category = model.uscc, sorted(model.categories)[0]
                    first, last = MONTHS.index(model.data_from), MONTHS.index(model.data_to)
                scope = " ".join(f"data:{c}" for c in sorted(model.categories))
                token = _token(world, bank, model.consent_id, scope)
                response = call_data(
                    world,
                    bank,
                    token,
                    f"/api/v1/data/enterprises/{uscc}/{category}",
                    params={"date_from": str(MONTHS[first]), "date_to": str(MONTHS[last])},
                )
                expected = model.covers(uscc, category, MONTHS[first], MONTHS[last], world.now)
                assert (response.status_code == 200) == expected, (model, action, response.text)
                assert response.status_code in (200, 403, 404), response.text
                seen["served" if expected else "refused"] += 1

    scenario()
    assert seen["served"] > 0
    assert seen["refused"] > 0
