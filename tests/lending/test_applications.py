"""The 310 application through the HTTP API (the decision run in this process; the real
worker is in test_worker.py): draft, submit with consent and an Idempotency-Key,
withdraw, illegal transitions, who sees what (each access decision both ways), the
decision's refusal paths, the officer's decision, expiry, the bank's queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select

from authz.models import Consent, ConsentEvent, Role, UserKind
from finance.core.outbox import OutboxMessage
from finance.institutions.models import Bank
from finance.lending import decision, service
from finance.lending.models import LoanApplication
from tests.authz.support import World, register_client
from tests.lending.support import Journey, online_version


@pytest.fixture
def journey(world: World) -> Journey:
    with world.sessions.begin() as session:
        version_id = online_version(session, world.bank_id)
    return Journey(world, version_id)


def _decide(world: World, application_id: int) -> str | None:
    """The decision task's two stages, in this process."""
    with world.sessions.begin() as session:
        go_on = decision.collect(session, application_id, now=world.now)
    if not go_on:
        return None
    with world.sessions.begin() as session:
        return decision.score_and_decide(
            session,
            application_id,
            data_dir=world.http.app.state.settings.resolved_data_dir,
            now=world.now,
        )


def test_a_draft_shows_the_consent_and_submitting_grants_it_and_queues_the_decision(
    world: World, journey: Journey
) -> None:
    draft = journey.draft()
    assert draft["status"] == "draft"
    assert draft["allowed"] == ["submit", "withdraw"]
    assert [c["name"] for c in draft["consent"]["categories"]] == ["tax"]
    assert "纳税" in draft["consent"]["zh"] or "税" in draft["consent"]["zh"]

    submitted = journey.submit(draft["id"], key="k-1")
    assert submitted.status_code == 201, submitted.text
    body = submitted.json()
    assert body["status"] == "submitted"
    assert body["allowed"] == ["withdraw"]
    assert body["service_levels"]["to_apply"] is not None
    with world.sessions() as session:
        consent = session.get(Consent, body["consent_id"])
        assert consent is not None
        assert consent.status == "Authorised"
        assert consent.origin == "platform"
        assert consent.application_id == draft["id"]
        assert consent.client_id == journey.bank.client_id
        jobs = session.scalars(select(OutboxMessage).where(OutboxMessage.task == "lending.decide"))
        assert [job.kwargs for job in jobs] == [{"application_id": draft["id"]}]
        events = session.scalars(
            select(ConsentEvent.type).where(ConsentEvent.consent_id == consent.id)
        ).all()
        assert "application.submitted" in events


def test_no_consent_no_application(world: World, journey: Journey) -> None:
    draft = journey.draft()
    refused = journey.submit(draft["id"], consent=False)
    assert refused.status_code == 422
    assert refused.json()["error"] == "consent_required"
    assert journey.application(draft["id"])["status"] == "draft"
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_submit_is_idempotent_by_key_and_a_reused_key_with_another_body_is_refused(
    world: World, journey: Journey
) -> None:
    draft = journey.draft()
    first = journey.submit(draft["id"], key="same-key")
    again = journey.submit(draft["id"], key="same-key")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["consent_id"] == first.json()["consent_id"]
    other = journey.draft()
    reused = journey.submit(other["id"], key="same-key")
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    missing = journey.enterprise(
        "POST", f"/api/v1/applications/{other['id']}/submit", json={"consent": True}
    )
    assert missing.status_code == 422
    twice = journey.submit(draft["id"], key="another-key")
    assert twice.status_code == 409
    assert twice.json()["allowed"] == ["withdraw"]
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_the_draft_must_fit_the_product(journey: Journey) -> None:
    response = journey.enterprise(
        "POST",
        "/api/v1/applications",
        json={
            "product_version_id": journey.version_id,
            "amount_fen": 10,
            "term_months": 99,
            "repayment_method": "gold_bars",
            "purpose": "x",
        },
    )
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/amount_fen", "/term_months", "/repayment_method"}
    unknown = journey.enterprise(
        "POST",
        "/api/v1/applications",
        json={
            "product_version_id": 999_999,
            "amount_fen": 10_000_000,
            "term_months": 12,
            "repayment_method": "bullet",
            "purpose": "x",
        },
    )
    assert unknown.status_code == 404


def test_withdraw_ends_the_application_and_its_consent_and_then_nothing_is_allowed(
    world: World, journey: Journey
) -> None:
    application = journey.apply()
    withdrawn = journey.enterprise(
        "POST", f"/api/v1/applications/{application['id']}/withdraw", json={"reason": "不需要了"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["timeline"][-1]["reason"] == "不需要了"
    with world.sessions() as session:
        consent = session.get(Consent, application["consent_id"])
        assert consent is not None
        assert consent.status == "Revoked"
    again = journey.enterprise(
        "POST", f"/api/v1/applications/{application['id']}/withdraw", json={}
    )
    assert again.status_code == 409
    assert again.json()["allowed"] == []
    assert _decide(world, application["id"]) is None  # the queued task finds nothing to do


def test_accepting_before_a_decision_is_refused_naming_what_is_allowed(journey: Journey) -> None:
    application = journey.apply()
    refused = journey.enterprise("POST", f"/api/v1/applications/{application['id']}/accept")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["error"] == "illegal_transition"
    assert problem["allowed"] == ["withdraw"]


def _second_bank(world: World) -> Any:
    with world.sessions.begin() as session:
        bank = Bank(code="LYB", name="洛阳银行", name_en="Bank of Luoyang", kind="city_commercial")
        session.add(bank)
        session.flush()
        bank_id = bank.id
    world.add_user("other_bank", UserKind.BANK, [Role.BANK_ADMIN], bank_id=bank_id)
    return register_client(world, admin="other_bank")


def test_who_sees_an_application_each_way(world: World, journey: Journey) -> None:
    application = journey.apply()
    path = f"/api/v1/applications/{application['id']}"
    bank_path = f"/api/v1/bank/applications/{application['id']}"
    # The enterprise: its own yes, another enterprise's no (404), banks' routes no (403).
    assert journey.enterprise("GET", path).status_code == 200
    assert journey.enterprise("GET", path, user="other_rep").status_code == 404
    assert (
        journey.enterprise("POST", f"{path}/withdraw", user="other_rep", json={}).status_code == 404
    )
    assert journey.enterprise("GET", bank_path).status_code == 403
    # The bank: its staff and its client yes; another bank's staff and client 404.
    assert journey.bank_staff("GET", bank_path).status_code == 200
    assert journey.bank_client("GET", bank_path).status_code == 200
    other = _second_bank(world)
    assert journey.bank_staff("GET", bank_path, user="other_bank").status_code == 404
    from tests.authz.support import consents_token

    token = consents_token(world, other)
    foreign = world.http.get(bank_path, headers={"Authorization": f"Bearer {token}"})
    assert foreign.status_code == 404
    queue = world.http.get(
        "/api/v1/bank/applications", headers={"Authorization": f"Bearer {token}"}
    )
    assert queue.status_code == 200
    assert queue.json()["items"] == []
    # Bank staff may not use the enterprise's routes; nobody anonymous gets anything.
    assert journey.bank_staff("GET", path).status_code == 403
    assert world.http.get(path).status_code == 401
    assert world.http.get(bank_path).status_code == 401
    assert (
        world.http.get(bank_path, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    )
    # A draft is the enterprise's own: the bank does not see it.
    draft = journey.draft()
    assert journey.bank_staff("GET", f"/api/v1/bank/applications/{draft['id']}").status_code == 404


def test_without_a_live_model_the_decision_refers_and_an_officer_decides_with_a_note(
    world: World, journey: Journey
) -> None:
    application = journey.apply()
    assert _decide(world, application["id"]) == "refer"
    assert _decide(world, application["id"]) is None  # a second delivery does nothing
    seen = journey.application(application["id"])
    assert seen["status"] == "referred"
    assert seen["decision"]["reasons"][0]["code"] == "no_live_model"
    with world.sessions() as session:
        decided = session.scalars(
            select(ConsentEvent).where(ConsentEvent.type == "application.decided")
        ).all()
        assert [(e.payload["application_id"], e.payload["status"]) for e in decided] == [
            (application["id"], "referred")
        ]
    assert seen["decision"]["data_reads"]["tax"] > 0
    assert [t["to_status"] for t in seen["timeline"]] == [
        "draft",
        "submitted",
        "data_collected",
        "referred",
    ]
    path = f"/api/v1/bank/applications/{application['id']}/decision"
    no_note = journey.bank_staff("POST", path, json={"approve": True, "note": ""})
    assert no_note.status_code == 422
    by_enterprise = journey.enterprise("POST", path, json={"approve": True, "note": "x"})
    assert by_enterprise.status_code == 403
    approved = journey.bank_staff("POST", path, json={"approve": True, "note": "经营稳定，同意"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["timeline"][-1]["actor"].startswith("bank:user:")
    again = journey.bank_staff("POST", path, json={"approve": False, "note": "no"})
    assert again.status_code == 409


def test_the_data_reads_are_the_banks_in_the_enterprises_ledger(
    world: World, journey: Journey
) -> None:
    application = journey.apply()
    _decide(world, application["id"])
    _decide(world, application["id"])
    ledger = journey.enterprise("GET", "/api/v1/my/ledger").json()
    calls = [e for e in ledger if e["action"] == "data_call"]
    assert len(calls) == 1
    assert calls[0]["actor"] == f"client:{journey.bank.client_id}"
    assert calls[0]["consent_id"] == application["consent_id"]
    assert calls[0]["categories"] == ["tax"]
    assert calls[0]["outcome"] == "allowed"
    assert calls[0]["rows_returned"] > 0


def test_consent_revoked_before_the_decision_declines_with_that_reason(
    world: World, journey: Journey
) -> None:
    application = journey.apply()
    revoked = journey.enterprise("POST", f"/api/v1/my/consents/{application['consent_id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert _decide(world, application["id"]) is None
    seen = journey.application(application["id"])
    assert seen["status"] == "declined"
    assert seen["decision"]["reasons"][0]["code"] == "consent_revoked"
    assert "revoked" in seen["decision"]["reasons"][0]["en"]
    ledger = journey.enterprise("GET", "/api/v1/my/ledger").json()
    refused = [e for e in ledger if e["action"] == "data_call"]
    assert [e["outcome"] for e in refused] == ["refused"]


def test_a_category_without_data_refers_with_that_reason(world: World) -> None:
    with world.sessions.begin() as session:
        version_id = online_version(session, world.bank_id, categories=("tax", "social_insurance"))
    journey = Journey(world, version_id)
    application = journey.apply()
    assert _decide(world, application["id"]) == "refer"
    seen = journey.application(application["id"])
    assert [r["code"] for r in seen["decision"]["reasons"]] == ["no_data"]
    assert "social" in seen["decision"]["reasons"][0]["en"].lower()


def test_an_offer_not_accepted_in_time_expires(world: World, journey: Journey) -> None:
    application = journey.apply()
    _decide(world, application["id"])
    journey.bank_staff(
        "POST",
        f"/api/v1/bank/applications/{application['id']}/decision",
        json={"approve": True, "note": "ok"},
    )
    with world.sessions.begin() as session:
        assert service.expire_offers(session, world.now + dt.timedelta(days=29)) == 0
    with world.sessions.begin() as session:
        assert service.expire_offers(session, world.now + dt.timedelta(days=31)) == 1
    seen = journey.application(application["id"])
    assert seen["status"] == "expired"
    late = journey.enterprise("POST", f"/api/v1/applications/{application['id']}/accept")
    assert late.status_code == 409


def test_the_banks_queue_filters_and_pages(world: World, journey: Journey) -> None:
    ids = [journey.apply(amount_fen=10_000_000 + n)["id"] for n in range(5)]
    _decide(world, ids[0])
    journey.enterprise("POST", f"/api/v1/applications/{ids[1]}/withdraw", json={})
    journey.draft()  # drafts are not in the bank's queue
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = journey.bank_client("GET", "/api/v1/bank/applications", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)

    def ids_of(**params: Any) -> list[int]:
        response = journey.bank_staff("GET", "/api/v1/bank/applications", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids_of(status="withdrawn") == [ids[1]]
    assert ids_of(decision="referred") == [ids[0]]
    assert sorted(ids_of(status="submitted")) == sorted(ids[2:])
    assert ids_of(product_id=999_999) == []
    later = (world.now + dt.timedelta(minutes=1)).isoformat()
    assert ids_of(submitted_from=later) == []
    assert (
        journey.bank_staff("GET", "/api/v1/bank/applications", params={"cursor": "!!"}).status_code
        == 422
    )
    assert (
        journey.bank_staff(
            "GET", "/api/v1/bank/applications", params={"status": "nonsense"}
        ).status_code
        == 422
    )
    levels = journey.bank_staff("GET", "/api/v1/bank/service-levels").json()
    assert levels["applications"] == 5  # the withdrawn one was submitted too
    assert levels["to_apply"]["count"] == 5
    assert levels["to_data"]["count"] == 1


def test_submitting_needs_an_authenticated_enterprise(world: World, journey: Journey) -> None:
    draft = journey.draft()
    with world.sessions.begin() as session:
        from authz.models import User

        user = session.get(User, world.users["legal_rep"].id)
        assert user is not None
        user.authenticated_at = None
    refused = journey.submit(draft["id"])
    assert refused.status_code == 409
    with world.sessions() as session:
        application = session.get(LoanApplication, draft["id"])
        assert application is not None
        assert application.status == "draft"


def test_the_status_and_the_decision_shown_come_from_one_snapshot(
    world: World, journey: Journey
) -> None:
    """A decision committed while the application is being read shows with the status it
    set, never beside the status it replaced (the worker commits both at once)."""
    application = journey.apply()
    with world.sessions.begin() as session:
        assert decision.collect(session, application["id"], now=world.now)
    engine = world.sessions.kw["bind"]
    fired: list[str | None] = []

    def decide_after_the_first_read(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if fired or "FROM loan_applications" not in statement:
            return
        fired.append(None)
        with world.sessions.begin() as other:
            fired[0] = decision.score_and_decide(
                other,
                application["id"],
                data_dir=world.http.app.state.settings.resolved_data_dir,
                now=world.now,
            )

    event.listen(engine, "after_cursor_execute", decide_after_the_first_read)
    try:
        seen = journey.application(application["id"])
    finally:
        event.remove(engine, "after_cursor_execute", decide_after_the_first_read)
    shown = {"approve": "approved", "refer": "referred", "decline": "declined"}[str(fired[0])]
    assert seen["decision"] is not None
    assert seen["status"] == shown
    assert seen["timeline"][-1]["to_status"] == shown
