"""The review workflow through the API: every legal transition, every illegal one refused
with the allowed events named, reasons required where the table says, versions kept, the
online version staying online while its successor is reviewed."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from products.workflow import TRANSITIONS, Side, allowed_events
from tests.products.support import Catalogue

API_EVENTS = ("submit", "withdraw", "approve", "reject", "take_offline")
STATUSES = ("draft", "submitted", "online", "rejected", "offline")
LEGAL = {
    ("draft", "submit", "bank"): "submitted",
    ("submitted", "withdraw", "bank"): "draft",
    ("submitted", "approve", "ops"): "online",
    ("submitted", "reject", "ops"): "rejected",
    ("online", "take_offline", "bank"): "offline",
    ("online", "take_offline", "ops"): "offline",
}
ACTOR = {"bank": "zzb_staff", "ops": "ops_admin"}


def version_in(catalogue: Catalogue, status: str) -> int:
    """A product whose version 1 is in ``status``; returns the product id."""
    product_id: int = catalogue.create()["product_id"]
    steps = {
        "draft": [],
        "submitted": [("zzb_staff", "submit", None)],
        "online": [("zzb_staff", "submit", None), ("ops_admin", "approve", None)],
        "rejected": [("zzb_staff", "submit", None), ("ops_admin", "reject", "no tax rule")],
        "offline": [
            ("zzb_staff", "submit", None),
            ("ops_admin", "approve", None),
            ("zzb_staff", "take_offline", "product retired"),
        ],
    }[status]
    for user, event, reason in steps:
        assert catalogue.fire(user, product_id, 1, event, reason).status_code == 200
    return product_id


def version(catalogue: Catalogue, product_id: int, number: int = 1) -> dict[str, Any]:
    response = catalogue.call(
        "zzb_staff", "GET", f"/api/v1/bank/products/{product_id}/versions/{number}"
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_table_is_what_the_tests_cover() -> None:
    table = {
        (rule.source.value, event, side.value): rule.target.value
        for event, rules in TRANSITIONS.items()
        for rule in rules
        for side in rule.sides
        if side is not Side.PLATFORM
    }
    assert table == LEGAL


@pytest.mark.parametrize(("source", "event", "side"), sorted(LEGAL))
def test_legal_transition(catalogue: Catalogue, source: str, event: str, side: str) -> None:
    product_id = version_in(catalogue, source)
    reason = "stated reason" if event in ("reject", "take_offline") else None
    response = catalogue.fire(ACTOR[side], product_id, 1, event, reason, side=side)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == LEGAL[(source, event, side)]
    last = body["transitions"][-1]
    assert (last["event"], last["from_status"], last["to_status"]) == (
        event,
        source,
        LEGAL[(source, event, side)],
    )
    assert last["actor_name"] == ACTOR[side] or last["actor"].startswith("user:")
    assert last["at"] is not None
    assert last["reason"] == reason
    assert body["allowed_events"] == allowed_events(body["status"], Side(side))


ILLEGAL = [
    (status, event, side)
    for status, event, side in itertools.product(STATUSES, API_EVENTS, ("bank", "ops"))
    if (status, event, side) not in LEGAL and not (status == "draft" and side == "ops")
]


@pytest.mark.parametrize(("source", "event", "side"), ILLEGAL)
def test_illegal_transition_is_409_naming_the_allowed(
    catalogue: Catalogue, source: str, event: str, side: str
) -> None:
    product_id = version_in(catalogue, source)
    response = catalogue.fire(ACTOR[side], product_id, 1, event, "a reason", side=side)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status_now"] == source
    assert problem["allowed_events"] == allowed_events(source, Side(side))
    for allowed in problem["allowed_events"]:
        assert allowed in problem["detail"]
    assert version(catalogue, product_id)["status"] == source


def test_ops_do_not_see_drafts(catalogue: Catalogue) -> None:
    product_id = version_in(catalogue, "draft")
    response = catalogue.fire("ops_admin", product_id, 1, "approve", side="ops")
    assert response.status_code == 404
    submitted = catalogue.fire("zzb_staff", product_id, 1, "submit")
    assert submitted.status_code == 200
    assert catalogue.fire("ops_admin", product_id, 1, "approve", side="ops").status_code == 200


@pytest.mark.parametrize(
    ("user", "source", "event"),
    [
        ("ops_admin", "submitted", "reject"),
        ("ops_admin", "online", "take_offline"),
        ("zzb_staff", "online", "take_offline"),
    ],
)
def test_reason_required(catalogue: Catalogue, user: str, source: str, event: str) -> None:
    product_id = version_in(catalogue, source)
    for reason in (None, "   "):
        response = catalogue.fire(user, product_id, 1, event, reason)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["pointer"] == "/reason"
    assert version(catalogue, product_id)["status"] == source


def test_platform_events_are_not_for_callers(catalogue: Catalogue) -> None:
    product_id = version_in(catalogue, "online")
    response = catalogue.fire("ops_admin", product_id, 1, "supersede")
    assert response.status_code == 422
    assert version(catalogue, product_id)["status"] == "online"


def test_editing_online_product_makes_new_version_old_stays_online(catalogue: Catalogue) -> None:
    product_id = version_in(catalogue, "online")
    edited = catalogue.call(
        "zzb_staff", "PATCH", f"/api/v1/bank/products/{product_id}", json={"rate_min_pct": "3.650"}
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["number"], edited.json()["status"]) == (2, "draft")
    assert edited.json()["terms"]["rate_min_pct"] == "3.650"
    assert edited.json()["terms"]["name"] == "税易贷"  # the rest carried over

    def public() -> dict[str, Any]:
        response = catalogue.call(None, "GET", f"/api/v1/products/{product_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert (public()["version"], public()["terms"]["rate_min_pct"]) == (1, "3.850")
    # A second edit changes the open draft, not a third version.
    again = catalogue.call(
        "zzb_staff", "PATCH", f"/api/v1/bank/products/{product_id}", json={"name": "税易贷2.0"}
    )
    assert (again.json()["number"], again.json()["terms"]["rate_min_pct"]) == (2, "3.650")
    assert catalogue.fire("zzb_staff", product_id, 2, "submit").status_code == 200
    # Under review: no edit, the version must be withdrawn first.
    locked = catalogue.call(
        "zzb_staff", "PATCH", f"/api/v1/bank/products/{product_id}", json={"name": "x"}
    )
    assert locked.status_code == 409
    assert locked.json()["allowed_events"] == ["withdraw"]
    assert public()["version"] == 1
    assert catalogue.fire("ops_admin", product_id, 2, "approve").status_code == 200
    assert (public()["version"], public()["terms"]["name"]) == (2, "税易贷2.0")
    history = catalogue.call("zzb_staff", "GET", f"/api/v1/bank/products/{product_id}").json()
    assert [(v["number"], v["status"]) for v in history["versions"]] == [
        (1, "offline"),
        (2, "online"),
    ]
    superseded = history["versions"][0]["transitions"][-1]
    assert (superseded["event"], superseded["actor"]) == ("supersede", "platform")
    assert "version 2" in superseded["reason"]
    assert [t["event"] for t in history["versions"][1]["transitions"]] == [
        "create",
        "submit",
        "approve",
    ]


def test_rejected_version_is_kept_and_edit_makes_the_next(catalogue: Catalogue) -> None:
    product_id = version_in(catalogue, "rejected")
    edited = catalogue.call(
        "zzb_staff", "PATCH", f"/api/v1/bank/products/{product_id}", json={"sizes": ["micro"]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["number"] == 2
    versions = catalogue.call("zzb_staff", "GET", f"/api/v1/bank/products/{product_id}").json()
    assert [(v["number"], v["status"]) for v in versions["versions"]] == [
        (1, "rejected"),
        (2, "draft"),
    ]
    assert versions["versions"][0]["transitions"][-1]["reason"] == "no tax rule"
    assert catalogue.call(None, "GET", f"/api/v1/products/{product_id}").status_code == 404


def test_offline_product_leaves_the_catalogue_and_can_return(catalogue: Catalogue) -> None:
    product_id = version_in(catalogue, "offline")
    assert catalogue.call(None, "GET", f"/api/v1/products/{product_id}").status_code == 404
    edited = catalogue.call("zzb_staff", "PATCH", f"/api/v1/bank/products/{product_id}", json={})
    assert edited.json()["number"] == 2
    assert catalogue.fire("zzb_staff", product_id, 2, "submit").status_code == 200
    assert catalogue.fire("ops_admin", product_id, 2, "approve").status_code == 200
    assert catalogue.call(None, "GET", f"/api/v1/products/{product_id}").json()["version"] == 2
