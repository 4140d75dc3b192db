"""The loan book through the API: disbursement (the loan, its schedule in fen, its
APR), repayments allocated penalty -> interest -> principal (partial, full, early),
days past due across month ends with the buckets and the default at 90+, the
``loan.overdue`` event, and who may do what."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from authz.models import ConsentEvent
from finance.core.db import session_factory
from finance.core.errors import Conflict
from finance.lending import accounting, book
from finance.lending.models import (
    ApplicationDecision,
    ApplicationTransition,
    Instalment,
    Loan,
    LoanApplication,
    Repayment,
)
from finance.lending.schedule import RepaymentMethod, apr, schedule
from finance.synth.province import SynthConfig
from finance.synth.service import generate, load, write
from tests.authz.support import BASE, World, dpop_proof
from tests.lending.support import Journey, online_version
from tests.lending.test_applications import _decide, _second_bank
from workers import lending as lending_tasks


@pytest.fixture
def journey(world: World) -> Journey:
    with world.sessions.begin() as session:
        version_id = online_version(session, world.bank_id)
    return Journey(world, version_id)


def _accepted(world: World, journey: Journey, amount_fen: int = 12_000_000) -> int:
    application = journey.apply(amount_fen)
    _decide(world, application["id"])  # no live model here: referred
    approved = journey.bank_staff(
        "POST",
        f"/api/v1/bank/applications/{application['id']}/decision",
        json={"approve": True, "note": "人工核实"},
    )
    assert approved.status_code == 200, approved.text
    accepted = journey.enterprise("POST", f"/api/v1/applications/{application['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return int(application["id"])


def _terms(**overrides: Any) -> dict[str, Any]:
    return {
        "contract_no": "ZZB-2026-0001",
        "amount_fen": 12_000_000,
        "annual_rate_pct": "4.8",
        "term_months": 12,
        "method": "equal_instalment",
        "fees_fen": 60_000,
        "disbursed_on": "2026-01-31",
        **overrides,
    }


def _disburse(journey: Journey, application_id: int, **overrides: Any) -> dict[str, Any]:
    response = journey.bank_client(
        "POST", f"/api/v1/bank/applications/{application_id}/disburse", json=_terms(**overrides)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _repay(journey: Journey, loan_id: int, amount_fen: int, paid_on: str) -> Any:
    return journey.bank_staff(
        "POST",
        f"/api/v1/bank/loans/{loan_id}/repayments",
        json={"amount_fen": amount_fen, "paid_on": paid_on},
    )


def _dpd(day: dt.date) -> int:
    """The daily run as beat sends it (``lending.days_past_due``), in this process."""
    changed: int = lending_tasks.days_past_due(as_of=day.isoformat())
    return changed


def _loan(world: World, loan_id: int) -> Loan:
    with world.sessions() as session:
        loan = session.get(Loan, loan_id)
        assert loan is not None
        return loan


def test_disbursement_makes_the_loan_its_schedule_and_its_apr(
    world: World, journey: Journey
) -> None:
    application_id = _accepted(world, journey)
    loan = _disburse(journey, application_id)
    expected = schedule(
        12_000_000, Decimal("4.8"), 12, RepaymentMethod.EQUAL_INSTALMENT, dt.date(2026, 1, 31)
    )
    assert [(i["due_on"], i["principal_fen"], i["interest_fen"]) for i in loan["schedule"]] == [
        (i.due_on.isoformat(), i.principal_fen, i.interest_fen) for i in expected
    ]
    assert sum(i["principal_fen"] for i in loan["schedule"]) == 12_000_000
    assert loan["schedule"][0]["due_on"] == "2026-02-28"  # clipped to the month's end
    assert Decimal(loan["apr_pct"]) == apr(12_000_000, 60_000, expected)
    assert Decimal(loan["apr_pct"]) > Decimal("4.8")
    assert loan["maturity_on"] == "2027-01-31"
    seen = journey.application(application_id)
    assert seen["status"] == "disbursed"
    assert seen["service_levels"]["to_disbursement"] is not None
    mine = journey.enterprise("GET", f"/api/v1/loans/{loan['id']}")
    assert mine.status_code == 200
    assert len(mine.json()["schedule"]) == 12
    assert (
        journey.enterprise("GET", f"/api/v1/loans/{loan['id']}", user="other_rep").status_code
        == 404
    )
    again = journey.bank_client(
        "POST", f"/api/v1/bank/applications/{application_id}/disburse", json=_terms()
    )
    assert again.status_code == 409


def test_disbursement_is_refused_outside_the_offer_before_acceptance_and_to_other_banks(
    world: World, journey: Journey
) -> None:
    application_id = _accepted(world, journey)
    path = f"/api/v1/bank/applications/{application_id}/disburse"
    too_much = journey.bank_client("POST", path, json=_terms(amount_fen=12_000_001))
    assert too_much.status_code == 422
    bad_rate = journey.bank_client("POST", path, json=_terms(annual_rate_pct="9.5"))
    assert {e["pointer"] for e in bad_rate.json()["errors"]} == {"/annual_rate_pct"}
    by_enterprise = journey.enterprise("POST", path, json=_terms())
    assert by_enterprise.status_code == 403
    _second_bank(world)
    assert journey.bank_staff("POST", path, user="other_bank", json=_terms()).status_code == 404
    not_accepted = journey.apply()
    early = journey.bank_client(
        "POST", f"/api/v1/bank/applications/{not_accepted['id']}/disburse", json=_terms()
    )
    assert early.status_code == 409
    assert early.json()["allowed"] == []


def test_repayments_on_time_then_in_full_early_settle_the_loan(
    world: World, journey: Journey
) -> None:
    loan = _disburse(journey, _accepted(world, journey))
    first = loan["schedule"][0]
    paid = _repay(journey, loan["id"], first["principal_fen"] + first["interest_fen"], "2026-02-28")
    assert paid.status_code == 201, paid.text
    assert paid.json()["penalty_fen"] == 0
    assert paid.json()["interest_fen"] == first["interest_fen"]
    assert paid.json()["principal_fen"] == first["principal_fen"]
    view = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}").json()
    assert view["schedule"][0]["state"] == "paid"
    # On 2026-03-10 nothing is due yet: settling early is the principal left, no interest
    # of the months to come.
    world.clock.now = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
    owed = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}").json()["owed"]
    left = owed["principal_fen"] + owed["interest_fen"] + owed["penalty_fen"]
    assert owed["interest_fen"] == 0
    assert left == 12_000_000 - first["principal_fen"]
    too_much = _repay(journey, loan["id"], left + 1, "2026-03-10")
    assert too_much.status_code == 422
    settled = _repay(journey, loan["id"], left, "2026-03-10")
    assert settled.status_code == 201, settled.text
    assert settled.json()["principal_fen"] == left
    final = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}").json()
    assert final["status"] == "settled"
    assert final["settled_on"] == "2026-03-10"
    assert _repay(journey, loan["id"], 100, "2026-03-11").status_code == 409


def test_a_partial_early_repayment_shortens_the_term_and_lowers_the_interest_to_come(
    world: World, journey: Journey
) -> None:
    loan = _disburse(journey, _accepted(world, journey), method="equal_principal")
    before = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}").json()["schedule"]
    paid = _repay(journey, loan["id"], 3_000_000, "2026-02-10")
    assert paid.json() | {"id": 0} == paid.json() | {
        "id": 0,
        "principal_fen": 3_000_000,
        "interest_fen": 0,
        "penalty_fen": 0,
    }
    after = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}").json()["schedule"]
    assert [i["state"] for i in after[-3:]] == ["paid", "paid", "paid"]  # the last three
    assert after[0]["interest_fen"] == before[0]["interest_fen"]  # the running month
    assert all(
        a["interest_fen"] < b["interest_fen"] for a, b in zip(after[1:9], before[1:9], strict=True)
    )


def test_days_past_due_across_month_ends_buckets_default_and_penalty_first(
    world: World, journey: Journey
) -> None:
    loan = _disburse(journey, _accepted(world, journey))
    loan_id = loan["id"]
    assert _dpd(dt.date(2026, 2, 28)) == 0  # due today: not past due
    assert (_loan(world, loan_id).status, _loan(world, loan_id).days_past_due) == ("current", 0)
    assert _dpd(dt.date(2026, 3, 1)) == 1
    assert (_loan(world, loan_id).status, _loan(world, loan_id).days_past_due) == ("overdue", 1)
    _dpd(dt.date(2026, 3, 31))  # 31 days after 2026-02-28, across March
    view = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()
    assert (view["days_past_due"], view["bucket"]) == (31, "31-60")
    assert book.bucket(60) == "31-60"
    assert book.bucket(61) == "61-90"
    _dpd(dt.date(2026, 5, 28))
    assert (_loan(world, loan_id).days_past_due, _loan(world, loan_id).status) == (89, "overdue")
    _dpd(dt.date(2026, 5, 29))
    defaulted = _loan(world, loan_id)
    assert (defaulted.days_past_due, defaulted.status) == (90, "defaulted")
    assert defaulted.defaulted_on == dt.date(2026, 5, 29)
    assert defaulted.max_days_past_due == 90
    assert _dpd(dt.date(2026, 5, 29)) == 0  # re-running the same day changes nothing
    assert _loan(world, loan_id).days_past_due == 90
    with world.sessions() as session:
        events = session.scalars(
            select(ConsentEvent).where(ConsentEvent.type == "loan.overdue")
        ).all()
        assert [e.payload["loan_id"] for e in events] == [loan_id]  # raised once
    world.clock.now = dt.datetime(2026, 5, 29, 2, 0, tzinfo=dt.UTC)
    view = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()
    overdue = [i for i in view["schedule"] if i["state"] == "overdue"]
    assert [i["number"] for i in overdue] == [1, 2, 3]
    penalty = sum(i["penalty_fen"] for i in view["schedule"])
    assert penalty > 0
    # A payment of the penalty plus a little goes to the penalty first, then interest.
    paid = _repay(journey, loan_id, penalty + 100, "2026-05-29").json()
    assert (paid["penalty_fen"], paid["interest_fen"], paid["principal_fen"]) == (penalty, 100, 0)
    # Paying everything due brings it back to current (the default date stays: the label).
    owed = journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()["owed"]
    due_now = sum(
        i["outstanding_fen"]
        for i in journey.bank_staff("GET", f"/api/v1/bank/loans/{loan_id}").json()["schedule"]
        if i["state"] in ("overdue", "due")
    )
    assert due_now < sum(owed.values())
    _repay(journey, loan_id, due_now, "2026-05-29")
    cured = _loan(world, loan_id)
    assert (cured.status, cured.days_past_due, cured.defaulted_on) == (
        "current",
        0,
        dt.date(2026, 5, 29),
    )


def test_the_bank_book_lists_only_its_loans(world: World, journey: Journey) -> None:
    loan = _disburse(journey, _accepted(world, journey))
    mine = journey.bank_client("GET", "/api/v1/bank/loans").json()
    assert [item["id"] for item in mine] == [loan["id"]]
    _second_bank(world)
    assert journey.bank_staff("GET", "/api/v1/bank/loans", user="other_bank").json() == []
    assert (
        journey.bank_staff("GET", f"/api/v1/bank/loans/{loan['id']}", user="other_bank").status_code
        == 404
    )
    assert _repay(journey, loan["id"], 100, "2026-02-01").status_code == 201
    other = journey.bank_staff(
        "POST",
        f"/api/v1/bank/loans/{loan['id']}/repayments",
        user="other_bank",
        json={"amount_fen": 100, "paid_on": "2026-02-01"},
    )
    assert other.status_code == 404


def test_after_a_synthetic_load_the_flow_and_the_book_add_rows_past_it(
    world: World, journey: Journey, engine: Engine, tmp_path: Path
) -> None:
    """The synthetic loan book is COPYed on PostgreSQL with ids drawn from the tables'
    own sequences: an application, its transitions and decision, the loan, its
    instalments and a repayment made through the API afterwards get ids past it."""
    synthetic = generate(SynthConfig(enterprises=200, months=18, seed=11, end=dt.date(2026, 9, 1)))
    load(engine, synthetic, write(synthetic, tmp_path / "synth"))
    tables = (
        LoanApplication,
        ApplicationTransition,
        ApplicationDecision,
        Loan,
        Instalment,
        Repayment,
    )
    with world.sessions() as session:
        last = {model: session.scalar(select(func.max(model.id))) or 0 for model in tables}
        assert session.scalar(select(func.count()).where(Loan.synthetic)) == len(
            synthetic.book.loans
        )
    application_id = _accepted(world, journey)
    loan = _disburse(journey, application_id)
    paid = _repay(journey, loan["id"], 100, "2026-02-01")
    assert paid.status_code == 201, paid.text
    assert application_id > last[LoanApplication]
    assert loan["id"] > last[Loan]
    assert paid.json()["id"] > last[Repayment]
    with world.sessions() as session:
        for model, owner in (
            (ApplicationTransition, ApplicationTransition.application_id == application_id),
            (ApplicationDecision, ApplicationDecision.application_id == application_id),
            (Instalment, Instalment.loan_id == loan["id"]),
        ):
            ids = session.scalars(select(model.id).where(owner)).all()
            assert ids, model.__tablename__
            assert min(ids) > last[model], model.__tablename__


def _race_on_loan(engine: Engine, loan_id: int, changes: dict[str, Any]) -> dict[str, str]:
    """Each change in its own thread and session, all having read the loan first."""
    sessions = session_factory(engine)
    barrier = threading.Barrier(len(changes))
    results: dict[str, str] = {}

    def attempt(name: str, change: Any) -> None:
        with sessions() as session:
            loan = session.get(Loan, loan_id)
            assert loan is not None
            barrier.wait()
            try:
                change(session, loan)
                session.commit()
                results[name] = "won"
            except Conflict:
                session.rollback()
                results[name] = "lost"

    threads = [threading.Thread(target=attempt, args=item) for item in changes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _paid(world: World, loan_id: int) -> tuple[int, int]:
    """Money recorded in repayments, and money marked paid on the instalments."""
    with world.sessions() as session:
        recorded = session.scalar(
            select(func.coalesce(func.sum(Repayment.amount_fen), 0)).where(
                Repayment.loan_id == loan_id
            )
        )
        marked = sum(
            i.paid_principal_fen + i.paid_interest_fen + i.paid_penalty_fen
            for i in book.instalments_of(session, loan_id)
        )
        return int(recorded or 0), marked


def test_of_two_concurrent_repayments_on_one_loan_one_wins_and_nothing_is_lost(
    world: World, journey: Journey, engine: Engine
) -> None:
    loan = _disburse(journey, _accepted(world, journey))
    now = world.now

    def pay(amount: int) -> Any:
        def change(session: Session, loan: Loan) -> None:
            book.repay(
                session, loan, amount_fen=amount, paid_on=dt.date(2026, 2, 28),
                recorded_by="tests", now=now,
            )  # fmt: skip

        return change

    results = _race_on_loan(engine, loan["id"], {"first": pay(300_000), "second": pay(500_000)})
    assert sorted(results.values()) == ["lost", "won"], results
    winner = next(name for name, result in results.items() if result == "won")
    recorded, marked = _paid(world, loan["id"])
    assert recorded == marked == {"first": 300_000, "second": 500_000}[winner]
    assert _loan(world, loan["id"]).version == 2
    # The loser retries on the loan as it now is, and both payments are kept.
    assert _repay(journey, loan["id"], 100_000, "2026-02-28").status_code == 201
    recorded, marked = _paid(world, loan["id"])
    assert recorded == marked


def test_the_daily_run_racing_a_repayment_loses_nothing(
    world: World, journey: Journey, engine: Engine
) -> None:
    loan = _disburse(journey, _accepted(world, journey))
    first = loan["schedule"][0]
    due = first["principal_fen"] + first["interest_fen"]
    now = world.now

    def settle_first(session: Session, loan: Loan) -> None:
        book.repay(
            session, loan, amount_fen=due, paid_on=dt.date(2026, 3, 1),
            recorded_by="tests", now=now,
        )  # fmt: skip

    def daily(session: Session, loan: Loan) -> None:
        book.age_loan(session, loan.id, dt.date(2026, 3, 1), now)

    results = _race_on_loan(engine, loan["id"], {"repay": settle_first, "daily": daily})
    # The daily run claims the loan again after a repayment that got there first, so
    # it never loses; the repayment may (409, and the bank retries).
    assert results["daily"] == "won", results
    if results["repay"] == "lost":
        assert _repay(journey, loan["id"], due, "2026-03-01").status_code == 201
    recorded, marked = _paid(world, loan["id"])
    assert recorded == marked == due
    # The loan's figures are those of its instalments as they now are: the first one paid,
    # so not past due (a run that wrote back what it read before the payment says 1 day).
    with world.sessions() as session:
        settled_first = session.get(Loan, loan["id"])
        assert settled_first is not None
        instalments = book.instalments_of(session, loan["id"])
        assert accounting.days_past_due(instalments, dt.date(2026, 3, 1)) == 0
        assert (settled_first.status, settled_first.days_past_due) == ("current", 0)


@pytest.mark.parametrize("path", ["/api/v1/bank/loans/{id}", "/api/v1/bank/loans"])
def test_a_loan_and_its_schedule_shown_come_from_one_snapshot(
    world: World, journey: Journey, path: str
) -> None:
    """A repayment committed while the loan is being read shows with the status it set,
    never beside the figures it replaced."""
    loan = _disburse(journey, _accepted(world, journey))
    _dpd(dt.date(2026, 3, 5))  # the first instalment is 5 days past due
    assert _loan(world, loan["id"]).status == "overdue"
    engine = world.sessions.kw["bind"]
    fired: list[bool] = []

    def repay_after_the_first_read(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if fired or "FROM loans" not in statement or "bank_id" not in statement:
            return
        fired.append(True)
        with world.sessions.begin() as other:
            row = other.get(Loan, loan["id"])
            assert row is not None
            owed = accounting.owed(row, book.instalments_of(other, row.id), dt.date(2026, 3, 5))
            book.repay(
                other, row, amount_fen=sum(owed.values()), paid_on=dt.date(2026, 3, 5),
                recorded_by="tests", now=world.now,
            )  # fmt: skip

    event.listen(engine, "after_cursor_execute", repay_after_the_first_read)
    try:
        seen = journey.bank_staff("GET", path.format(id=loan["id"])).json()
    finally:
        event.remove(engine, "after_cursor_execute", repay_after_the_first_read)
    assert fired
    shown = seen if isinstance(seen, dict) else seen[0]
    # Either the loan as it was (overdue, owing) or as it is (settled, owing nothing).
    if shown["status"] == "settled":
        assert shown["owed"] == {}
    else:
        assert shown["status"] == "overdue"
        assert sum(shown["owed"].values()) > 0
        if shown.get("schedule"):
            assert shown["schedule"][0]["state"] == "overdue"


class _Call(threading.Thread):
    """A call in a thread of its own, with what it returned or raised."""

    def __init__(self, call: Callable[[], Any], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._call = call
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:  # kept for the test's thread to report
            self.error = exc


def _overdue_events(world: World) -> list[int]:
    with world.sessions() as session:
        return sorted(
            event.payload["loan_id"]
            for event in session.scalars(
                select(ConsentEvent).where(ConsentEvent.type == "loan.overdue")
            )
        )


def test_the_daily_run_holds_one_loan_at_a_time(
    world: World, journey: Journey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the daily run is at its second loan, a repayment of the first one (aged
    already) commits at once. Run as one transaction, the run kept every loan it had aged
    until its end (PostgreSQL: the row lock; SQLite: the write lock), so the repayment
    waited for the whole run and then answered 409 (the loan changed since it read it)."""
    loans = [
        _disburse(journey, _accepted(world, journey), contract_no=f"ZZB-2026-000{n}")
        for n in (1, 2)
    ]
    real_claim = book.claim
    at_second_loan, go_on = threading.Event(), threading.Event()
    claimed: list[int] = []

    def claim_pausing_at_the_second_loan(session: Session, loan: Loan) -> None:
        if threading.current_thread() is run:
            if claimed and loan.id != claimed[0] and not at_second_loan.is_set():
                at_second_loan.set()
                go_on.wait(timeout=120)
            claimed.append(loan.id)
        real_claim(session, loan)

    monkeypatch.setattr(book, "claim", claim_pausing_at_the_second_loan)
    run = _Call(lambda: _dpd(dt.date(2026, 3, 1)), "daily-run")
    run.start()
    try:
        assert at_second_loan.wait(timeout=60), run.error
        aged = next(loan for loan in loans if loan["id"] == claimed[0])
        first = aged["schedule"][0]
        due = first["principal_fen"] + first["interest_fen"]
        pay = _Call(lambda: _repay(journey, aged["id"], due, "2026-03-01"), "repayment")
        pay.start()
        pay.join(timeout=10)
        waited = pay.is_alive()
    finally:
        go_on.set()
        run.join(timeout=120)
    pay.join(timeout=120)
    assert not waited, "the repayment of the aged loan waited for the rest of the run"
    assert pay.error is None, pay.error
    assert pay.result.status_code == 201, pay.result.text
    assert run.error is None, run.error
    assert run.result == 2  # both fell overdue
    repaid = _loan(world, aged["id"])
    assert (repaid.status, repaid.days_past_due) == ("current", 0)
    other = _loan(world, next(loan["id"] for loan in loans if loan is not aged))
    assert (other.status, other.days_past_due) == ("overdue", 1)
    assert _overdue_events(world) == sorted(loan["id"] for loan in loans)
    recorded, marked = _paid(world, aged["id"])
    assert recorded == marked == due


def test_the_daily_run_passes_by_a_loan_a_repayment_settled_first(
    world: World, journey: Journey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repayment settling the loan commits after the run read the loan and before its
    claim: the run loses the claim, reads the loan again, finds it settled and leaves it
    (no figures changed, no ``loan.overdue``)."""
    loan = _disburse(journey, _accepted(world, journey))
    day = dt.date(2026, 3, 1)  # the first instalment is a day past due
    real_claim = book.claim
    settled: list[int] = []

    def settle_then_claim(session: Session, row: Loan) -> None:
        if not settled:
            settled.append(row.id)
            with world.sessions.begin() as other:
                fresh = other.get(Loan, row.id)
                assert fresh is not None
                owed = accounting.owed(fresh, book.instalments_of(other, fresh.id), day)
                book.repay(
                    other, fresh, amount_fen=sum(owed.values()), paid_on=day,
                    recorded_by="tests", now=world.now,
                )  # fmt: skip
        real_claim(session, row)

    monkeypatch.setattr(book, "claim", settle_then_claim)
    assert _dpd(day) == 0
    assert settled == [loan["id"]]
    row = _loan(world, loan["id"])
    assert (row.status, row.days_past_due, row.settled_on) == ("settled", 0, day)
    assert row.version == 2  # the repayment's claim only
    assert _overdue_events(world) == []


def test_the_daily_run_ages_a_loan_that_kept_changing_after_the_others(
    world: World, journey: Journey, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before each of the run's first two claims of one loan, a repayment of that loan
    commits: the loan is lost twice (``age_loan`` tries once more, then answers 409). The
    run goes on with the other loans and ages the busy one after them, instead of
    ending with the rest of the book not aged."""
    if engine.dialect.name == "sqlite":
        pytest.skip(
            "on SQLite the first attempt's claim takes the write lock: the second cannot lose"
        )
    loans = [
        _disburse(journey, _accepted(world, journey), contract_no=f"ZZB-2026-001{n}")
        for n in (1, 2)
    ]
    busy = loans[0]["id"]
    day = dt.date(2026, 3, 1)  # the first instalments are a day past due
    due = day - dt.timedelta(days=1)  # the repayments are made on the due date
    real_claim = book.claim
    overtaken: list[int] = []
    injecting: list[bool] = []

    def claim_overtaken_twice(session: Session, row: Loan) -> None:
        if row.id == busy and len(overtaken) < 2 and not injecting:
            injecting.append(True)  # the repayment's own claim is a plain one
            with world.sessions.begin() as other:
                fresh = other.get(Loan, row.id)
                assert fresh is not None
                book.repay(
                    other, fresh, amount_fen=100, paid_on=due, recorded_by="tests", now=world.now
                )
            injecting.clear()
            overtaken.append(row.id)
        real_claim(session, row)

    monkeypatch.setattr(book, "claim", claim_overtaken_twice)
    assert _dpd(day) == 2
    assert overtaken == [busy, busy]
    for loan in loans:
        row = _loan(world, loan["id"])
        assert (row.status, row.days_past_due) == ("overdue", 1)
    assert _overdue_events(world) == sorted(loan["id"] for loan in loans)
    recorded, marked = _paid(world, busy)
    assert recorded == marked == 200
    assert _loan(world, busy).version == 4  # two repayments, then the run


def _repayments_after_each_read(
    world: World, monkeypatch: pytest.MonkeyPatch, amounts: list[int], paid_on: dt.date
) -> list[int]:
    """Right after each of the next reads of a loan by the repayment endpoint
    (``book.get_loan``), and before its claim, another repayment of the loan commits, of
    each of ``amounts`` in turn; returns the amounts that did."""
    real_get_loan = book.get_loan
    left = list(amounts)
    made: list[int] = []

    def get_loan_then_another_repayment(session: Session, query: Any, loan_id: int) -> Loan:
        loan = real_get_loan(session, query, loan_id)
        if left:
            amount = left.pop(0)
            with world.sessions.begin() as other:
                row = other.get(Loan, loan_id)
                assert row is not None
                book.repay(
                    other, row, amount_fen=amount, paid_on=paid_on,
                    recorded_by="tests: the other repayment", now=world.now,
                )  # fmt: skip
            made.append(amount)
        return loan

    monkeypatch.setattr(book, "get_loan", get_loan_then_another_repayment)
    return made


def _dpop_repayment(journey: Journey, loan_id: int, body: dict[str, Any]) -> tuple[Any, str]:
    """A repayment by the bank's client with a DPoP-bound token; the answer and the proof."""
    world, client = journey.world, journey.bank
    token = world.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "consents", **client.assertion(world)},
        headers={
            "DPoP": dpop_proof(client.dpop_key, "POST", BASE + "/oauth2/token", now=world.now)
        },
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "DPoP"
    access_token = token.json()["access_token"]
    path = f"/api/v1/bank/loans/{loan_id}/repayments"
    proof = dpop_proof(
        client.dpop_key, "POST", BASE + path, now=world.now, access_token=access_token
    )
    headers = {"Authorization": f"DPoP {access_token}", "DPoP": proof}
    return world.http.post(path, json=body, headers=headers), proof


@pytest.mark.parametrize("caller", ["bank_staff", "dpop_client"])
def test_a_repayment_that_loses_the_race_is_made_again_on_the_loan_as_it_now_is(
    world: World,
    journey: Journey,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caller: str,
) -> None:
    """Another repayment commits between the endpoint's read of the loan and its claim:
    the endpoint's claim loses, and instead of a 409 it reads the loan again and records
    the repayment on it as it now is. Through a DPoP-bound token the proof's ``jti``,
    recorded by the authentication in the same transaction, is kept: the proof cannot be
    replayed."""
    if caller == "dpop_client" and engine.dialect.name == "sqlite":
        pytest.skip(
            "on SQLite the proof's jti takes the write lock before the endpoint runs, so no "
            "other repayment can commit in between"
        )
    loan = _disburse(journey, _accepted(world, journey))
    interest = loan["schedule"][0]["interest_fen"]
    made = _repayments_after_each_read(world, monkeypatch, [interest], dt.date(2026, 2, 28))
    body = {"amount_fen": 500_000, "paid_on": "2026-02-28"}
    if caller == "dpop_client":
        answer, proof = _dpop_repayment(journey, loan["id"], body)
    else:
        answer = _repay(journey, loan["id"], 500_000, "2026-02-28")
    assert answer.status_code == 201, answer.text
    assert made == [interest]
    # Allocated on the loan as it now is: the other repayment paid the interest due.
    allocated = answer.json()
    assert (allocated["interest_fen"], allocated["principal_fen"]) == (0, 500_000)
    recorded, marked = _paid(world, loan["id"])
    assert recorded == marked == interest + 500_000
    assert _loan(world, loan["id"]).version == 3
    if caller == "dpop_client":
        replayed = world.http.post(
            f"/api/v1/bank/loans/{loan['id']}/repayments",
            json=body,
            headers={"Authorization": answer.request.headers["Authorization"], "DPoP": proof},
        )
        assert replayed.status_code == 401, replayed.text
        assert _paid(world, loan["id"]) == (recorded, marked)


def test_a_repayment_that_loses_twice_answers_409_having_recorded_nothing(
    world: World, journey: Journey, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repayment is made once more, not again and again: when another repayment
    overtakes it on the second attempt too, the answer is the 409."""
    if engine.dialect.name == "sqlite":
        pytest.skip(
            "on SQLite the first attempt's claim takes the write lock: the second cannot lose"
        )
    loan = _disburse(journey, _accepted(world, journey))
    made = _repayments_after_each_read(world, monkeypatch, [100_000, 200_000], dt.date(2026, 2, 28))
    answer = _repay(journey, loan["id"], 500_000, "2026-02-28")
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "concurrent_loan_change"
    assert made == [100_000, 200_000]  # read twice: tried once more
    recorded, marked = _paid(world, loan["id"])
    assert recorded == marked == 300_000


def test_a_failed_requests_dpop_proof_cannot_be_replayed(world: World, journey: Journey) -> None:
    """A DPoP proof is good for one request, answered or not: the request's transaction
    rolls back when it fails, but the proof's ``jti`` is remembered all the same, so the
    request cannot be sent again with it (by whoever holds the proof and its token, once
    the reason it failed has passed). A new proof is accepted."""
    missing = 999_999
    failed, proof = _dpop_repayment(journey, missing, {"amount_fen": 100, "paid_on": "2026-02-28"})
    assert failed.status_code == 404, failed.text
    authorization = failed.request.headers["authorization"]
    path = f"/api/v1/bank/loans/{missing}/repayments"
    body = {"amount_fen": 100, "paid_on": "2026-02-28"}
    replayed = world.http.post(
        path, json=body, headers={"Authorization": authorization, "DPoP": proof}
    )
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["error"] == "invalid_dpop_proof"
    fresh = dpop_proof(
        journey.bank.dpop_key,
        "POST",
        BASE + path,
        now=world.now,
        access_token=authorization.split(" ", 1)[1],
    )
    again = world.http.post(
        path, json=body, headers={"Authorization": authorization, "DPoP": fresh}
    )
    assert again.status_code == 404, again.text
